import { createHash, randomBytes } from 'node:crypto';
import type { ConnectionOptions } from 'node:tls';
import {
  Client,
  ConstraintViolationError,
  type Entry,
  Filter,
  InsufficientAccessError,
  InvalidCredentialsError,
  SizeLimitExceededError,
  UnwillingToPerformError,
} from 'ldapts';
import { LRUCache } from 'lru-cache';
import pLimit from 'p-limit';
import { type AccessController, AuthFailure, type AuthRequest, type Grant } from './access.js';
import { BasicCheck } from './basic.js';
import type { UserSource } from './issuer.js';
import type { FailureLimitOptions } from './limiter.js';

export interface LdapOptions {
  realm: string;
  /** ldap:// or ldaps:// URLs, tried in order: the next when one cannot be reached. */
  urls: string[];
  /** Upgrade ldap:// connections with StartTLS before sending any credentials. */
  starttls?: boolean;
  /** PEM certificates the directory's certificate must chain to (default: the system's). */
  ca?: string;
  /** Accept any certificate (the registry warns at start). */
  insecureSkipVerify?: boolean;
  /** The service account that searches for users. */
  bindDn: string;
  bindPassword: string;
  userBase: string;
  /** `{username}` is replaced by the user name, escaped (RFC 4515). */
  userFilter: string;
  /** Where groups are searched (the token issuer's ACL may name them); without it a user is in none. */
  groupBase?: string;
  /** `{dn}` is the user's DN, `{username}` the name, both escaped (default `(member={dn})`). */
  groupFilter?: string;
  /** The attribute that names a group besides its DN (default `cn`). */
  groupAttribute?: string;
  /** Each directory operation's limit; past it the server is taken as down. */
  timeoutMs: number;
  /** How long verified credentials are remembered (as an HMAC), also while the directory is down. */
  cacheTtlMs: number;
  rateLimit?: FailureLimitOptions | false;
  onLimited?: (info: { address?: string; user: string; retryAfterSeconds: number }) => void;
  /** A server that could not be reached or answered wrongly: named, for the log. */
  onUnavailable?: (message: string) => void;
}

/** Why a user's own bind fails when the directory refuses the user: invalid credentials, a locked account. */
const REFUSALS = [
  InvalidCredentialsError,
  UnwillingToPerformError,
  ConstraintViolationError,
  InsufficientAccessError,
];

/** The directory could not be asked: 503 with a plain message; `details` names each server and why. */
class DirectoryUnavailable extends AuthFailure {
  constructor(readonly details: string) {
    super('UNAVAILABLE', 'the user directory is unavailable; the registry log names the servers and why');
  }
}

/** `work`, or a rejection once `ms` have passed. */
function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** Conversations with the directory at once: binds queue beyond it instead of opening ever more connections. */
const CONNECTIONS = 8;

/**
 * Basic credentials checked against an LDAP directory: the service account finds the user's entry, then the
 * user's own bind with the given password decides. An empty password is refused before anything is asked (a
 * bind with a DN and no password is an "unauthenticated bind", which servers accept); a name matching several
 * entries is refused; an unknown user costs a bind too (of a DN that does not exist), so it answers as a wrong
 * password does, in the same time.
 */
export class LdapAccessController implements AccessController, UserSource {
  private readonly basic: BasicCheck;
  private readonly memberships: LRUCache<string, string[]>;
  private readonly queue = pLimit(CONNECTIONS);
  private readonly tls: ConnectionOptions;

  constructor(private readonly options: LdapOptions) {
    this.basic = new BasicCheck({
      realm: options.realm,
      cacheTtlMs: options.cacheTtlMs,
      ...(options.rateLimit !== undefined && { rateLimit: options.rateLimit }),
      ...(options.onLimited && { onLimited: options.onLimited }),
      // Directories compare names without regard to case and surrounding or repeated spaces.
      userKey: (user) => user.normalize('NFKC').toLowerCase().trim().replace(/\s+/g, ' '),
    });
    this.memberships = new LRUCache({ max: 4096, ttl: options.cacheTtlMs });
    this.tls = {
      ...(options.ca && { ca: options.ca }),
      rejectUnauthorized: options.insecureSkipVerify !== true,
    };
  }

  authorize(request: AuthRequest, _access: unknown[]): Promise<Grant> {
    return this.basic.authorize(request, async (user, password) => {
      // An empty password is an unauthenticated bind, which servers accept: refused before asking.
      if (!password) return false;
      return this.queue(() => this.check(user, password));
    });
  }

  /**
   * A connection to `url`, TLS set up and bound as the service account. ldapts speaks TLS from the first byte
   * whenever it is given TLS options, so only ldaps:// gets them, and it writes into the options it is given, so
   * each connection gets its own; StartTLS needs the host, or Node checks the certificate against "localhost".
   */
  private async connect(url: string): Promise<Client> {
    const client = new Client({
      url,
      timeout: this.options.timeoutMs,
      connectTimeout: this.options.timeoutMs,
      ...(url.startsWith('ldaps:') && { tlsOptions: { ...this.tls } }),
    });
    try {
      // ldapts sets no timer on the TLS handshake: one is set here, or a stalled server would hold a slot for good.
      if (this.options.starttls)
        await within(
          client.startTLS({ ...this.tls, host: new URL(url).hostname.replace(/^\[|\]$/g, '') }),
          this.options.timeoutMs,
          'the StartTLS handshake',
        );
      await client.bind(this.options.bindDn, this.options.bindPassword);
      return client;
    } catch (err) {
      // Not awaited: a connection stuck in its handshake may not answer an unbind either.
      void client.unbind().catch(() => {});
      throw err instanceof InvalidCredentialsError
        ? new Error(`the service account ${this.options.bindDn} was refused`)
        : err;
    }
  }

  /** Runs `use` on the first server that answers; UNAVAILABLE naming each one when none does. */
  private async withDirectory<T>(use: (client: Client) => Promise<T>): Promise<T> {
    const problems: string[] = [];
    for (const url of this.options.urls) {
      let client: Client | undefined;
      try {
        client = await this.connect(url);
        return await use(client);
      } catch (err) {
        const why = (err as Error).message;
        problems.push(`${url}: ${why}`);
        this.options.onUnavailable?.(`directory ${url} unavailable: ${why}`);
      } finally {
        await client?.unbind().catch(() => {});
      }
    }
    // Clients are told no more than that; which servers and why go to the log (onUnavailable) and the probe.
    throw new DirectoryUnavailable(problems.join('; '));
  }

  async probe(): Promise<void> {
    await this.withDirectory(async () => {}).catch((err: unknown) => {
      throw err instanceof DirectoryUnavailable ? new Error(err.details) : err;
    });
  }

  /** The user's one entry, found by the service account; undefined when there is none, or several. */
  private async findUser(client: Client, user: string, attributes: string[]): Promise<Entry | undefined> {
    const filter = this.options.userFilter.replaceAll('{username}', Filter.escape(user));
    const found = await client
      .search(this.options.userBase, { scope: 'sub', filter, attributes, sizeLimit: 2 })
      .then(
        (r) => r.searchEntries,
        (err: unknown) => {
          if (err instanceof SizeLimitExceededError) return [];
          throw err;
        },
      );
    return found.length === 1 ? found[0] : undefined;
  }

  /** Whether the directory takes the password for the user; UNAVAILABLE when no server could say. */
  private check(user: string, password: string): Promise<boolean> {
    return this.withDirectory(async (client) => {
      const entry = await this.findUser(client, user, ['dn']);
      // A DN that exists nowhere, so an unknown (or ambiguous) user costs what a wrong password costs.
      const dn = entry?.dn ?? `cn=unknown-${randomBytes(8).toString('hex')},${this.options.userBase}`;
      try {
        await client.bind(dn, password);
        return entry !== undefined;
      } catch (err) {
        // The user's bind refused (a wrong password, a locked or disabled account): a failed sign-in, not an outage.
        if (REFUSALS.some((refusal) => err instanceof refusal)) return false;
        throw err;
      }
    });
  }

  /**
   * The user's entry as it stands now (its DN and last modification, which a new password moves), undefined once
   * it is gone: the token issuer's refresh tokens carry it.
   */
  async fingerprint(user: string): Promise<string | undefined> {
    const entry = await this.queue(() =>
      this.withDirectory((client) => this.findUser(client, user, ['modifyTimestamp'])),
    );
    if (!entry) return undefined;
    // Servers name the attribute in their own case (Active Directory: modifyTimeStamp).
    const modified = Object.entries(entry).find(([name]) => name.toLowerCase() === 'modifytimestamp')?.[1];
    return createHash('sha256')
      .update(`${entry.dn}\0${String(modified ?? '')}`)
      .digest('base64url');
  }

  /** The groups the user is in (each group's DN and its groupAttribute), read at most every cache.ttl. */
  async groups(user: string): Promise<string[]> {
    const { groupBase, groupFilter = '(member={dn})', groupAttribute = 'cn' } = this.options;
    if (!groupBase) return [];
    const cached = this.memberships.get(user);
    if (cached) return cached;
    const groups = await this.queue(() =>
      this.withDirectory(async (client) => {
        const entry = await this.findUser(client, user, ['dn']);
        if (!entry) return [];
        const filter = groupFilter
          .replaceAll('{dn}', Filter.escape(entry.dn))
          .replaceAll('{username}', Filter.escape(user));
        const { searchEntries } = await client.search(groupBase, {
          scope: 'sub',
          filter,
          attributes: [groupAttribute],
        });
        return searchEntries.flatMap((g) => [g.dn, ...[g[groupAttribute] ?? []].flat().map(String)]);
      }),
    );
    this.memberships.set(user, groups);
    return groups;
  }
}
