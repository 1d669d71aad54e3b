import { LRUCache } from 'lru-cache';

export interface FailureLimitOptions {
  /** Failed attempts a client address, or a user name, may make at once. */
  burst: number;
  /** Attempts earned back per minute. */
  perMinute: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Token buckets of failed login attempts, one per key (a client address, a user name). A key whose bucket is
 * empty is refused before any password is checked, so a guessing flood costs no bcrypt. Buckets live in a
 * bounded LRU: a flood from many addresses cannot grow memory, it only forgets the oldest.
 */
export class FailureLimiter {
  private readonly buckets = new LRUCache<string, Bucket>({ max: 50_000 });

  constructor(
    private readonly options: FailureLimitOptions,
    private readonly now: () => number = Date.now,
  ) {}

  private bucket(key: string): Bucket {
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.options.burst, at: now };
    bucket.tokens = Math.min(
      this.options.burst,
      bucket.tokens + ((now - bucket.at) * this.options.perMinute) / 60_000,
    );
    bucket.at = now;
    return bucket;
  }

  /** Milliseconds until `key` may try again; 0 when it may now. */
  waitMs(key: string): number {
    const { tokens } = this.bucket(key);
    return tokens >= 1 ? 0 : Math.ceil(((1 - tokens) * 60_000) / this.options.perMinute);
  }

  /** Counts a failure; true when it used the key's last attempt (the moment to log it). */
  fail(key: string): boolean {
    const bucket = this.bucket(key);
    bucket.tokens = Math.max(0, bucket.tokens - 1);
    this.buckets.set(key, bucket);
    return bucket.tokens < 1;
  }
}
