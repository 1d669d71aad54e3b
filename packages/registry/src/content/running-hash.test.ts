import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RunningHash } from './running-hash.js';

const MiB = 1024 * 1024;
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Feeds `data` in chunks of `chunk` bytes as requests of `request` bytes each, waiting when told to. */
async function hashAsRequests(hash: RunningHash, data: Buffer, chunk: number, request = data.length) {
  for (let start = 0; start < data.length; start += request) {
    const body = data.subarray(start, start + request);
    for (let at = 0; at < body.length; at += chunk) await hash.update(body.subarray(at, at + chunk));
    hash.settle();
  }
}

describe('RunningHash', () => {
  it('hashes a small upload on its own thread, over several requests', async () => {
    const data = randomBytes(300_000);
    const hash = new RunningHash('sha256', true);
    await hashAsRequests(hash, data, 65_536, 100_000);
    expect(await hash.digest()).toBe(sha256(data));
  });

  it('hashes every chunk as it comes when not threaded (two cores), over several requests', async () => {
    const data = randomBytes(3 * MiB + 5);
    const hash = new RunningHash('sha256', false);
    await hashAsRequests(hash, data, 65_521, MiB + 3);
    expect(await hash.digest()).toBe(sha256(data));
  });

  it('hashes a large upload on the hashing thread, in chunks that do not line up with its batches', async () => {
    const data = randomBytes(5 * MiB + 12_345);
    const hash = new RunningHash('sha256', true);
    await hashAsRequests(hash, data, 65_521, 2 * MiB + 7);
    expect(await hash.digest()).toBe(sha256(data));

    const sha512 = new RunningHash('sha512', true);
    await hashAsRequests(sha512, data, 3 * MiB);
    expect(await sha512.digest()).toBe(createHash('sha512').update(data).digest('hex'));
  });

  it('keeps concurrent uploads apart, waiting when the hashing thread is behind', async () => {
    const uploads = Array.from({ length: 6 }, (_, i) => randomBytes(3 * MiB + i * 1000));
    const digests = await Promise.all(
      uploads.map(async (data) => {
        const hash = new RunningHash('sha256', true);
        await hashAsRequests(hash, data, 16_384 + (data.length % 997));
        return hash.digest();
      }),
    );
    expect(digests).toEqual(uploads.map(sha256));
  });

  it('forgets a disposed hash (more than once) and goes on hashing others', async () => {
    const disposed = new RunningHash('sha256', true);
    await hashAsRequests(disposed, randomBytes(2 * MiB), 65_536);
    disposed.dispose();
    disposed.dispose();
    expect(disposed.update(Buffer.from('ignored'))).toBeUndefined();

    const data = randomBytes(2 * MiB);
    const next = new RunningHash('sha256', true);
    await hashAsRequests(next, data, 65_536);
    expect(await next.digest()).toBe(sha256(data));
  });

  it('fails the digests of hashes begun on a hashing thread that died, and starts another for new ones', async () => {
    const data = randomBytes(2 * MiB);
    const survivor = new RunningHash('sha256', true);
    await hashAsRequests(survivor, data, 65_536);
    // An algorithm the thread cannot hash makes it throw: the way a real fault would end it.
    const fatal = new RunningHash('md-nope' as 'sha256', true);
    await hashAsRequests(fatal, data, 65_536);
    await expect(fatal.digest()).rejects.toThrow();
    await expect(survivor.digest()).rejects.toThrow();

    const next = new RunningHash('sha256', true);
    await hashAsRequests(next, data, 65_536);
    expect(await next.digest()).toBe(sha256(data));
  });
});
