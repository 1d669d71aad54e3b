import { createHmac, randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { AuthFailure, type AuthRequest, type Grant, quote } from './access.js';
import { FailureLimiter, type FailureLimitOptions } from './limiter.js';

/** The default limit on failed logins: 10 at once, then 10 a minute, per client address and per user. */
export const DEFAULT_FAILURE_LIMIT: FailureLimitOptions = { burst: 10, perMinute: 10 };

export interface BasicCheckOptions {
  realm: string;
  /** How long verified credentials are remembered. */
  cacheTtlMs: number;
  rateLimit?: FailureLimitOptions | false;
  onLimited?: (info: { address?: string; user: string; retryAfterSeconds: number }) => void;
  /**
   * The name failures are counted under, when the source takes several spellings as one user (a directory
   * matching without regard to case or spaces): so "ALICE " cannot get a budget of its own.
   */
  userKey?: (user: string) => string;
}

/** `Basic base64(user:password)`: the user and password, or undefined when malformed or of no user. */
export function basicCredentials(header: string | undefined): { user: string; password: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]{1,4096})\s*$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * What every Basic-auth controller (htpasswd, LDAP) does around its own password check: the challenge,
 * credentials verified lately remembered so a client sending them on every request pays the check once (keyed by
 * an HMAC under a key of this process: the cache never holds a password or a plain hash of one), and failed
 * attempts limited per client address and per user before any password is checked.
 */
export class BasicCheck {
  private readonly verified: LRUCache<string, true>;
  private readonly cacheKey = randomBytes(32);
  private readonly limiter: FailureLimiter | undefined;

  constructor(private readonly options: BasicCheckOptions) {
    this.verified = new LRUCache({ max: 4096, ttl: options.cacheTtlMs });
    if (options.rateLimit !== false)
      this.limiter = new FailureLimiter(options.rateLimit ?? DEFAULT_FAILURE_LIMIT);
  }

  challenge(message: string): AuthFailure {
    return new AuthFailure('UNAUTHORIZED', message, `Basic realm=${quote(this.options.realm)}`);
  }

  /** Forgets every verified password (the users' file was read again). */
  forget(): void {
    this.verified.clear();
  }

  /** The request's Basic credentials checked by `verify`, which says whether the password is the user's. */
  async authorize(
    request: AuthRequest,
    verify: (user: string, password: string) => Promise<boolean>,
  ): Promise<Grant> {
    const header = request.headers.authorization;
    if (!header) throw this.challenge('authentication required');
    const credentials = basicCredentials(header);
    if (!credentials) throw this.challenge('malformed Basic credentials');
    const key = createHmac('sha256', this.cacheKey)
      .update(`${credentials.user}\0${credentials.password}`)
      .digest('base64');
    if (this.verified.get(key)) return { user: credentials.user };
    const userKey = this.options.userKey?.(credentials.user) ?? credentials.user;
    const keys = [...(request.address ? [`address ${request.address}`] : []), `user ${userKey}`];
    const waitMs = Math.max(0, ...keys.map((k) => this.limiter?.waitMs(k) ?? 0));
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      throw new AuthFailure(
        'TOOMANYREQUESTS',
        `too many failed logins; try again in ${seconds}s`,
        undefined,
        seconds,
      );
    }
    if (!(await verify(credentials.user, credentials.password))) {
      if (keys.map((k) => this.limiter?.fail(k)).some(Boolean)) {
        const retryAfterSeconds = Math.ceil(
          Math.max(...keys.map((k) => this.limiter?.waitMs(k) ?? 0)) / 1000,
        );
        this.options.onLimited?.({
          ...(request.address && { address: request.address }),
          user: credentials.user,
          retryAfterSeconds,
        });
      }
      throw this.challenge('invalid username or password');
    }
    this.verified.set(key, true);
    return { user: credentials.user };
  }
}
