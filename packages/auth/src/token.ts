import { createPublicKey, type KeyObject, type X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  type Access,
  type AccessController,
  AuthFailure,
  type AuthRequest,
  formatScope,
  type Grant,
  quote,
} from './access.js';
import { decodeJws, SUPPORTED_ALGORITHMS, verifySignature } from './jwt.js';
import { jwkThumbprint, libtrustKeyId, parseBundle, verifyChain } from './keys.js';

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
}

/** Clock skew tolerated on exp and nbf, as distribution's. */
const LEEWAY_SECONDS = 60;

interface TokenAccess {
  type?: unknown;
  name?: unknown;
  actions?: unknown;
}

/** distribution's token access controller: Bearer JWTs from a trusted issuer, carrying the access granted. */
export class TokenAccessController implements AccessController {
  private roots: X509Certificate[] = [];
  private readonly keysById = new Map<string, KeyObject>();

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
        this.keysById.set(libtrustKeyId(cert.publicKey), cert.publicKey);
        this.keysById.set(jwkThumbprint(cert.publicKey), cert.publicKey);
      }
    }
    if (this.options.jwks) {
      const set = JSON.parse(await readFile(this.options.jwks, 'utf8')) as {
        keys?: Record<string, unknown>[];
      };
      for (const jwk of set.keys ?? []) {
        const key = createPublicKey({ key: jwk as never, format: 'jwk' });
        this.keysById.set(typeof jwk.kid === 'string' ? jwk.kid : jwkThumbprint(key), key);
      }
    }
  }

  private challenge(access: Access[], error?: 'invalid_token' | 'insufficient_scope'): string {
    const params = [`realm=${quote(this.options.realm)}`, `service=${quote(this.options.service)}`];
    if (access.length > 0) params.push(`scope=${quote(access.map(formatScope).join(' '))}`);
    if (error) params.push(`error=${quote(error)}`);
    return `Bearer ${params.join(',')}`;
  }

  private refuse(
    access: Access[],
    message: string,
    error?: 'invalid_token' | 'insufficient_scope',
  ): AuthFailure {
    return new AuthFailure('UNAUTHORIZED', message, this.challenge(access, error));
  }

  async authorize(request: AuthRequest, access: Access[]): Promise<Grant> {
    const header = request.headers.authorization;
    if (!header) throw this.refuse(access, 'authentication required');
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw this.refuse(access, 'a Bearer token is required', 'invalid_token');
    const claims = this.verify(match[1] as string);
    if (typeof claims === 'string') throw this.refuse(access, claims, 'invalid_token');

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
            access,
            `token does not grant ${want.type}:${want.name}:${action}`,
            'insufficient_scope',
          );
      }
    }
    return typeof claims.sub === 'string' && claims.sub !== '' ? { user: claims.sub } : {};
  }

  /** The token's claims when it is signed by a trusted key and valid now; otherwise why not. */
  verify(token: string): Record<string, unknown> | string {
    try {
      return this.verifyToken(token);
    } catch (err) {
      // Crypto libraries throw on some malformed input; to the client that is just an invalid token.
      return `token could not be verified: ${(err as Error).message}`;
    }
  }

  private verifyToken(token: string): Record<string, unknown> | string {
    const jws = decodeJws(token);
    if (typeof jws === 'string') return jws;
    const { header, payload } = jws;
    let key: KeyObject | undefined;
    if (header.x5c !== undefined) {
      const chained = verifyChain(header.x5c, this.roots);
      if (typeof chained === 'string') return chained;
      key = chained;
    } else if (typeof header.kid === 'string') {
      key = this.keysById.get(header.kid);
      if (!key) return `signing key ${JSON.stringify(header.kid.slice(0, 100))} is not trusted`;
    } else {
      return 'token names no signing key (x5c or kid)';
    }
    const bad = verifySignature(jws, key, this.options.signingalgorithms ?? SUPPORTED_ALGORITHMS);
    if (bad) return bad;

    const now = Date.now() / 1000;
    if (payload.iss !== this.options.issuer) return 'token issuer is not trusted';
    const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    if (!audiences.includes(this.options.service)) return 'token audience does not include this service';
    if (typeof payload.exp !== 'number' || now > payload.exp + LEEWAY_SECONDS) return 'token has expired';
    if (
      payload.nbf !== undefined &&
      (typeof payload.nbf !== 'number' || now < payload.nbf - LEEWAY_SECONDS)
    ) {
      return 'token is not valid yet';
    }
    return payload;
  }
}
