import { createPublicKey, type KeyObject, type X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  errors,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWK,
  type JWTHeaderParameters,
  jwtVerify,
} from 'jose';
import {
  type Access,
  type AccessController,
  AuthFailure,
  type AuthRequest,
  formatScope,
  type Grant,
  quote,
} from './access.js';
import { SUPPORTED_ALGORITHMS } from './jwt.js';
import { libtrustKeyId, parseBundle, verifyChain } from './keys.js';

export interface TokenOptions {
  realm: string;
  service: string;
  issuer: string;
  /** PEM bundle of the certificates that may sign tokens (or issue their x5c chains). */
  rootcertbundle?: string;
  /** A JSON Web Key Set of signing keys, matched by `kid`. */
  jwks?: string;
  /** Accepted `alg` values (default: every supported asymmetric one). */
  signingalgorithms?: string[];
  /** distribution's autoredirect: the realm is this path on the host the client asked (its Host header). */
  autoredirect?: boolean;
  /** The path of that realm (default /auth/token). */
  autoredirectpath?: string;
}

/** Clock skew tolerated on exp and nbf, as distribution's. */
const LEEWAY_SECONDS = 60;
/** Tokens carrying many access entries run to kilobytes; past this they are not worth parsing. */
const MAX_TOKEN = 64 * 1024;

interface TokenAccess {
  type?: unknown;
  name?: unknown;
  actions?: unknown;
}

/** The token names no key this registry trusts: the message says which and why. */
class UntrustedKey extends Error {}

/** Why jose refused a token, in the words the client sees. */
function refusal(err: unknown): string {
  if (err instanceof UntrustedKey) return err.message;
  if (err instanceof errors.JWTExpired) return 'token has expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    const why: Record<string, string> = {
      iss: 'token issuer is not trusted',
      aud: 'token audience does not include this service',
      nbf: 'token is not valid yet',
      exp: 'token has no expiry',
    };
    return why[err.claim] ?? `token claim ${err.claim} is invalid: ${err.reason}`;
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return 'token signing algorithm is not accepted';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'token signature does not verify';
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid)
    return `token is not a valid JWT: ${(err as Error).message}`;
  // jose and the crypto below it throw on some malformed input (a key of the wrong type for the algorithm).
  return `token could not be verified: ${(err as Error).message}`;
}

/** distribution's token access controller: Bearer JWTs from a trusted issuer, carrying the access granted. */
export class TokenAccessController implements AccessController {
  private roots: X509Certificate[] = [];
  /** Keys by the ids a token's `kid` may use: libtrust ids and JWK thumbprints of the bundle, kid-less JWKS keys. */
  private readonly keysById = new Map<string, KeyObject | JWK>();
  private jwks: ReturnType<typeof createLocalJWKSet> | undefined;

  constructor(private readonly options: TokenOptions) {}

  /** Reads the root bundle and key set; fails with the config key when they cannot be used. */
  async load(): Promise<void> {
    if (!this.options.rootcertbundle && !this.options.jwks) {
      throw new Error('auth.token: rootcertbundle or jwks is required');
    }
    if (this.options.rootcertbundle) {
      this.roots = parseBundle(await readFile(this.options.rootcertbundle, 'utf8'));
      if (this.roots.length === 0)
        throw new Error(`auth.token.rootcertbundle: no certificates in ${this.options.rootcertbundle}`);
      for (const cert of this.roots) {
        // distribution 2.8 matches kid against the libtrust id (no library computes it), 3.x the thumbprint.
        this.keysById.set(libtrustKeyId(cert.publicKey), cert.publicKey);
        this.keysById.set(
          await calculateJwkThumbprint(cert.publicKey.export({ format: 'jwk' }) as JWK),
          cert.publicKey,
        );
      }
    }
    if (this.options.jwks) {
      const set = JSON.parse(await readFile(this.options.jwks, 'utf8')) as JSONWebKeySet;
      if (!Array.isArray(set?.keys)) throw new Error(`auth.token.jwks: ${this.options.jwks} holds no "keys"`);
      for (const jwk of set.keys) {
        createPublicKey({ key: jwk as never, format: 'jwk' }); // refuses a key that is not one, at start
        if (jwk.kid === undefined) this.keysById.set(await calculateJwkThumbprint(jwk), jwk);
      }
      this.jwks = createLocalJWKSet(set);
    }
  }

  /** The realm a challenge names: the configured one, or with autoredirect the token path on this host. */
  private realm(request: AuthRequest): string {
    const host = request.headers.host;
    if (!this.options.autoredirect || !host) return this.options.realm;
    return `${request.protocol ?? 'http'}://${host}${this.options.autoredirectpath ?? '/auth/token'}`;
  }

  private challenge(
    request: AuthRequest,
    access: Access[],
    error?: 'invalid_token' | 'insufficient_scope',
  ): string {
    const params = [`realm=${quote(this.realm(request))}`, `service=${quote(this.options.service)}`];
    if (access.length > 0) params.push(`scope=${quote(access.map(formatScope).join(' '))}`);
    if (error) params.push(`error=${quote(error)}`);
    return `Bearer ${params.join(',')}`;
  }

  private refuse(
    request: AuthRequest,
    access: Access[],
    message: string,
    error?: 'invalid_token' | 'insufficient_scope',
  ): AuthFailure {
    return new AuthFailure('UNAUTHORIZED', message, this.challenge(request, access, error));
  }

  async authorize(request: AuthRequest, access: Access[]): Promise<Grant> {
    const header = request.headers.authorization;
    if (!header) throw this.refuse(request, access, 'authentication required');
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw this.refuse(request, access, 'a Bearer token is required', 'invalid_token');
    const claims = await this.verify(match[1] as string);
    if (typeof claims === 'string') throw this.refuse(request, access, claims, 'invalid_token');

    const granted = Array.isArray(claims.access) ? (claims.access as TokenAccess[]) : [];
    for (const want of access) {
      for (const action of want.actions) {
        const ok = granted.some(
          (g) =>
            g.type === want.type &&
            g.name === want.name &&
            Array.isArray(g.actions) &&
            (g.actions.includes(action) || g.actions.includes('*')),
        );
        if (!ok)
          throw this.refuse(
            request,
            access,
            `token does not grant ${want.type}:${want.name}:${action}`,
            'insufficient_scope',
          );
      }
    }
    return typeof claims.sub === 'string' && claims.sub !== '' ? { user: claims.sub } : {};
  }

  /** The token's claims when it is signed by a trusted key and valid now; otherwise why not. */
  async verify(token: string): Promise<Record<string, unknown> | string> {
    if (token.length > MAX_TOKEN) return 'token is too large';
    try {
      const { payload } = await jwtVerify(token, (header, jws) => this.keyFor(header, jws), {
        issuer: this.options.issuer,
        audience: this.options.service,
        algorithms: this.options.signingalgorithms ?? SUPPORTED_ALGORITHMS,
        clockTolerance: LEEWAY_SECONDS,
        requiredClaims: ['exp'],
      });
      return payload;
    } catch (err) {
      return refusal(err);
    }
  }

  /** The key a token's header names: an x5c chain to a trusted root (checked by hand), or a kid. */
  private async keyFor(header: JWTHeaderParameters, jws: FlattenedJWSInput) {
    if (header.x5c !== undefined) {
      const key = verifyChain(header.x5c, this.roots);
      if (typeof key === 'string') throw new UntrustedKey(key);
      return key;
    }
    if (typeof header.kid !== 'string') throw new UntrustedKey('token names no signing key (x5c or kid)');
    const key = this.keysById.get(header.kid);
    if (key) return key;
    if (this.jwks) {
      try {
        return await this.jwks(header, jws);
      } catch (err) {
        if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
      }
    }
    throw new UntrustedKey(`signing key ${JSON.stringify(header.kid.slice(0, 100))} is not trusted`);
  }
}
