import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import bcrypt from 'bcryptjs';
import { type AccessController, AuthFailure, type AuthRequest, type Grant, quote } from './access.js';
import { apr1 } from './apr1.js';

type Verifier = (password: string) => boolean;

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
    return (password) => bcrypt.compareSync(password, normalised);
  }
  const md5 = /^\$apr1\$([^$]{0,8})\$[./A-Za-z0-9]{22}$/.exec(hash);
  if (md5) return (password) => equal(apr1(password, md5[1] as string), hash);
  if (hash.startsWith('{SHA}')) {
    return (password) => equal(`{SHA}${createHash('sha1').update(password, 'utf8').digest('base64')}`, hash);
  }
  return /^[./A-Za-z0-9]{13}$/.test(hash)
    ? 'crypt(3) hashes are not supported'
    : 'plain-text passwords are not supported';
}

export interface HtpasswdEntries {
  users: Map<string, Verifier>;
  /** Lines refused, with the reason (users named, hashes never). */
  refused: string[];
}

export function parseHtpasswd(text: string): HtpasswdEntries {
  const users = new Map<string, Verifier>();
  const refused: string[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) {
      refused.push(`line ${i + 1}: not user:hash`);
      continue;
    }
    const user = line.slice(0, colon);
    const verifier = verifierFor(line.slice(colon + 1));
    if (typeof verifier === 'string') refused.push(`line ${i + 1} (user ${user}): ${verifier}`);
    else users.set(user, verifier);
  }
  return { users, refused };
}

/** Splits `Authorization: Basic base64(user:password)`; undefined when absent or malformed. */
export function basicCredentials(header: string | undefined): { user: string; password: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]{1,4096})\s*$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

// Checked for unknown users, so that they cost what a wrong password costs (the cost of `htpasswd -B`).
const DECOY = bcrypt.hashSync('decoy password', 5);

export interface HtpasswdOptions {
  realm: string;
  path: string;
  /** Called with each refused line (for the log). */
  onRefused?: (reason: string) => void;
}

/**
 * distribution's htpasswd access controller: Basic credentials checked against an htpasswd file, which is
 * re-read when it changes. Any valid user gets any access (as distribution's does).
 */
export class HtpasswdAccessController implements AccessController {
  private entries: HtpasswdEntries = { users: new Map(), refused: [] };
  private loadedMtime = -1;
  private checkedAt = 0;

  constructor(private readonly options: HtpasswdOptions) {}

  /** Loads the file now; fails if it cannot be read. */
  async load(): Promise<void> {
    const info = await stat(this.options.path);
    this.entries = parseHtpasswd(await readFile(this.options.path, 'utf8'));
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

  private challenge(message: string): AuthFailure {
    return new AuthFailure('UNAUTHORIZED', message, `Basic realm=${quote(this.options.realm)}`);
  }

  async authorize(request: AuthRequest, _access: unknown[]): Promise<Grant> {
    await this.refresh();
    const header = request.headers.authorization;
    if (!header) throw this.challenge('authentication required');
    const credentials = basicCredentials(header);
    if (!credentials) throw this.challenge('malformed Basic credentials');
    const verify = this.entries.users.get(credentials.user);
    if (!verify) {
      bcrypt.compareSync(credentials.password, DECOY);
      throw this.challenge('invalid username or password');
    }
    if (!verify(credentials.password)) throw this.challenge('invalid username or password');
    return { user: credentials.user };
  }
}
