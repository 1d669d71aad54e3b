export {
  type Access,
  type AccessController,
  AuthFailure,
  type AuthRequest,
  formatScope,
  type Grant,
  parseScope,
} from './access.js';
export { Acl, type AclEntry } from './acl.js';
export { BasicCheck, basicCredentials, DEFAULT_FAILURE_LIMIT } from './basic.js';
export {
  HtpasswdAccessController,
  type HtpasswdOptions,
  parseHtpasswd,
} from './htpasswd.js';
export { type TokenIssuerOptions, tokenIssuer, type UserSource } from './issuer.js';
export { SUPPORTED_ALGORITHMS, signJwt } from './jwt.js';
export { libtrustKeyId, parseBundle, verifyChain } from './keys.js';
export { LdapAccessController, type LdapOptions } from './ldap.js';
export { FailureLimiter, type FailureLimitOptions } from './limiter.js';
export {
  type CertificateOptions,
  createCertificateAuthority,
  issueCertificate,
  type KeyPair,
} from './pki.js';
export { TokenAccessController, type TokenOptions } from './token.js';
