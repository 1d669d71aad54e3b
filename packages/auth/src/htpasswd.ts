import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { hash as bcryptHash, verify as bcryptVerify } from '@node-rs/bcrypt';
import pLimit from 'p-limit';
import type { AccessController, AuthRequest, Grant } from './access.js';
import { apr1 } from './apr1.js';
import { BasicCheck } from './basic.js';
import type { FailureLimitOptions } from './limiter.js';

/** Checks a password against one stored hash; bcrypt runs natively off the event loop. */
type Verifier = (password: string) => Promise<boolean>;

// bcrypt verifications at once: enough to use the cores, few enough that the libuv threads the filesystem
// driver also needs are never all taken by a password-guessing flood.
const bcryptSlots = pLimit(Math.max(1, availableParallelism() - 1));

const equal = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/**
 * A verifier for one htpasswd hash, in the formats Apache's htpasswd writes: bcrypt (-B), MD5 apr1 (-m, its
 * default) and SHA1 (-s). Returns a reason instead for crypt(3) and plain text, which are refused.
 */
export function verifierFor(hash: string): Verifier | string {
  if (/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) {
    // bcrypt's 2y (PHP, Apache) is the same algorithm as 2b.
    const normalised = hash.replace(/^\$2y\$/, '$2b$');
    return (password) => bcryptSlots(() => bcryptVerify(password, normalised));
  }
  const md5 = /^\$apr1\$([^$]{0,8})\$[./A-Za-z0-9]{22}$/.exec(hash);
  if (md5) return async (password) => equal(apr1(password, md5[1] as string), hash);
  if (hash.startsWith('{SHA}')) {
    return async (password) =>
      equal(`{SHA}${createHash('sha1').update(password, 'utf8').digest('base64')}`, hash);
  }
  return /^[./A-Za-z0-9]{13}$/.test(hash)
    ? 'crypt(3) hashes are not supported'
    : 'plain-text passwords are not supported';
}

export interface HtpasswdEntries {
  users: Map<string, Verifier>;
  /** Each accepted user's stored hash (never logged). */
  hashes: Map<string, string>;
  /** The highest bcrypt cost in the file (0 without bcrypt entries): what an unknown user must cost too. */
  bcryptCost: number;
  /** Lines refused, with the reason (users named, hashes never). */
  refused: string[];
}

export function parseHtpasswd(text: string): HtpasswdEntries {
  const users = new Map<string, Verifier>();
  const hashes = new Map<string, string>();
  const refused: string[] = [];
  let bcryptCost = 0;
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) {
      refused.push(`line ${i + 1}: not user:hash`);
      continue;
    }
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    const verifier = verifierFor(hash);
    if (typeof verifier === 'string') refused.push(`line ${i + 1} (user ${user}): ${verifier}`);
    else {
      users.set(user, verifier);
      hashes.set(user, hash);
    }
    const cost = /^\$2[aby]\$(\d\d)\$/.exec(hash)?.[1];
    if (cost && typeof verifier !== 'string') bcryptCost = Math.max(bcryptCost, Number(cost));
  }
  return { users, hashes, refused, bcryptCost };
}

export interface HtpasswdOptions {
  realm: string;
  path: string;
  /** Called with each refused line (for the log). */
  onRefused?: (reason: string) => void;
  /** Failed attempts allowed per client address and per user (default 10 at once, 10 more a minute). */
  rateLimit?: FailureLimitOptions | false;
  /** Called when a client address or a user runs out of attempts (for the log). */
  onLimited?: (limited: { address?: string; user: string; retryAfterSeconds: number }) => void;
}

/**
 * distribution's htpasswd access controller: Basic credentials checked against an htpasswd file, which is
 * re-read when it changes. Any valid user gets any access (as distribution's does).
 */
export class HtpasswdAccessController implements AccessController {
  private entries: HtpasswdEntries = { users: new Map(), hashes: new Map(), refused: [], bcryptCost: 0 };
  /** Checked for unknown users, so they cost what a wrong password costs (user enumeration by timing). */
  private decoy: Verifier = async () => false;
  private loadedMtime = -1;
  private checkedAt = 0;
  private readonly check: BasicCheck;

  constructor(private readonly options: HtpasswdOptions) {
    this.check = new BasicCheck({
      realm: options.realm,
      cacheTtlMs: 60_000,
      ...(options.rateLimit !== undefined && { rateLimit: options.rateLimit }),
      ...(options.onLimited && { onLimited: options.onLimited }),
    });
  }

  /** Loads the file now; fails if it cannot be read. */
  async load(): Promise<void> {
    const info = await stat(this.options.path);
    const entries = parseHtpasswd(await readFile(this.options.path, 'utf8'));
    // A decoy as costly as the file's dearest hash; apr1 and SHA1 are cheap whatever the user.
    const decoy = entries.bcryptCost
      ? verifierFor(await bcryptHash(randomBytes(16).toString('hex'), { cost: entries.bcryptCost }))
      : verifierFor('{SHA}');
    this.entries = entries;
    this.decoy = typeof decoy === 'string' ? async () => false : decoy;
    this.check.forget();
    this.loadedMtime = info.mtimeMs;
    for (const reason of this.entries.refused) this.options.onRefused?.(`${this.options.path}: ${reason}`);
  }

  /** Re-reads the file when its modification time changed (looked at most once a second). */
  private async refresh(): Promise<void> {
    const now = Date.now();
    if (now - this.checkedAt < 1000) return;
    this.checkedAt = now;
    const info = await stat(this.options.path).catch(() => undefined);
    if (info && info.mtimeMs !== this.loadedMtime) await this.load().catch(() => {});
  }

  /**
   * A fingerprint of the user's entry as the file has it now (a hash of the stored hash), undefined when the
   * file no longer lists the user: a refresh token carries it, so a new password or a removed user ends it.
   */
  async fingerprint(user: string): Promise<string | undefined> {
    await this.refresh();
    const hash = this.entries.hashes.get(user);
    return hash === undefined
      ? undefined
      : createHash('sha256').update(`${user}:${hash}`).digest('base64url');
  }

  async authorize(request: AuthRequest, _access: unknown[]): Promise<Grant> {
    await this.refresh();
    return this.check.authorize(request, async (user, password) => {
      const verify = this.entries.users.get(user);
      return verify ? verify(password) : this.decoy(password);
    });
  }
}
