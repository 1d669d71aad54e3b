import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { InMemoryDriver } from '@regop/storage';
import { describe, expect, it, vi } from 'vitest';
import { paths } from '../paths.js';
import { Digest } from '../reference.js';
import { Registry } from './registry.js';
import { RunningHash } from './running-hash.js';

describe('upload purging', () => {
  it('removes uploads older than the age, in every repository, and only reports on a dry run', async () => {
    const driver = new InMemoryDriver();
    const registry = new Registry(driver);
    const old = await registry.uploads.start('a/b');
    const fresh = await registry.uploads.start('c');
    await driver.putContent(paths.uploadStartedAt('a/b', old.id), '2020-01-01T00:00:00Z');
    const cutoff = new Date(Date.now() - 60_000);

    expect(await registry.uploads.purge(cutoff, true)).toEqual([paths.uploadDir('a/b', old.id)]);
    expect((await registry.uploads.status('a/b', old.id)).id).toBe(old.id);

    expect(await registry.uploads.purge(cutoff, false)).toEqual([paths.uploadDir('a/b', old.id)]);
    await expect(registry.uploads.status('a/b', old.id)).rejects.toMatchObject({
      code: 'BLOB_UPLOAD_UNKNOWN',
    });
    expect((await registry.uploads.status('c', fresh.id)).id).toBe(fresh.id);
  });

  it('re-reads the data to verify the digest when the running hash was lost (resumed on another unit)', async () => {
    const driver = new InMemoryDriver();
    const upload = await new Registry(driver).uploads.start('r');
    await new Registry(driver).uploads.append('r', upload.id, Readable.from([Buffer.from('hello ')]));
    // A second registry over the same storage (another unit) finishes the upload.
    const other = new Registry(driver);
    const digest = Digest.of('sha256', 'hello world');
    const blob = await other.uploads.commit('r', upload.id, digest, Readable.from([Buffer.from('world')]));
    expect(blob).toEqual({ digest, size: 11 });
    expect((await driver.getContent(paths.blobData(digest))).toString()).toBe('hello world');
  });

  it('finishes a commit interrupted after its blob became visible, at the next touch or by purging', async () => {
    const driver = new InMemoryDriver();
    const registry = new Registry(driver);
    const content = Buffer.from('committed, then the process died');
    const digest = Digest.of('sha256', content);
    // What commit had done when the process died: linked and moved, the upload directory still there.
    const interrupted = async () => {
      const upload = await registry.uploads.start('r');
      await registry.uploads.append('r', upload.id, Readable.from([content]));
      await registry.blobs.link('r', digest);
      await driver.move(paths.uploadData('r', upload.id), paths.blobData(digest));
      return upload.id;
    };
    const gone = async (id: string) =>
      expect(driver.stat(paths.uploadDir('r', id))).rejects.toThrow(/not found/);

    const polled = await interrupted();
    await expect(registry.uploads.status('r', polled)).rejects.toMatchObject({ code: 'BLOB_UPLOAD_UNKNOWN' });
    await gone(polled);

    const patched = await interrupted();
    await expect(
      registry.uploads.append('r', patched, Readable.from([Buffer.from('more')])),
    ).rejects.toMatchObject({ code: 'BLOB_UPLOAD_UNKNOWN' });
    await gone(patched);
    expect((await driver.getContent(paths.blobData(digest))).equals(content)).toBe(true);

    // The client retries the PUT it never got an answer to: the blob is there, so it is done.
    const retried = await interrupted();
    expect(await registry.uploads.commit('r', retried, digest)).toEqual({ digest, size: content.length });
    await gone(retried);

    // Nobody comes back: purging takes it once it is more than a few minutes old, well before its age.
    const abandoned = await interrupted();
    await driver.putContent(
      paths.uploadStartedAt('r', abandoned),
      new Date(Date.now() - 3_600_000).toISOString(),
    );
    expect(await registry.uploads.purge(new Date(Date.now() - 7 * 86_400_000), false)).toEqual([
      paths.uploadDir('r', abandoned),
    ]);
    expect(await registry.blobs.find('r', digest)).toEqual({ digest, size: content.length });
  });
});

describe('upload hashing', () => {
  const chunks = (data: Buffer, size: number) =>
    Readable.from(
      Array.from({ length: Math.ceil(data.length / size) }, (_, i) =>
        data.subarray(i * size, (i + 1) * size),
      ),
    );

  it('verifies a large upload sent in PATCHes from its running hash, without reading the data back', async () => {
    const driver = new InMemoryDriver();
    const registry = new Registry(driver);
    const content = randomBytes(3 * 1024 * 1024 + 4321);
    const digest = Digest.of('sha256', content);
    const upload = await registry.uploads.start('r');
    await registry.uploads.append('r', upload.id, chunks(content.subarray(0, 2_000_000), 65_536));
    const reads = vi.spyOn(driver, 'reader');
    const blob = await registry.uploads.commit(
      'r',
      upload.id,
      digest,
      chunks(content.subarray(2_000_000), 65_536),
    );
    expect(blob).toEqual({ digest, size: content.length });
    expect(reads).not.toHaveBeenCalled();
    expect((await driver.getContent(paths.blobData(digest))).equals(content)).toBe(true);
  });

  it('hashes the stored data when the running hash cannot give its digest (the hashing thread died)', async () => {
    const driver = new InMemoryDriver();
    const registry = new Registry(driver);
    const content = randomBytes(2 * 1024 * 1024);
    const digest = Digest.of('sha256', content);
    const failing = vi.spyOn(RunningHash.prototype, 'digest').mockRejectedValue(new Error('thread died'));
    try {
      const upload = await registry.uploads.start('r');
      expect(await registry.uploads.commit('r', upload.id, digest, chunks(content, 65_536))).toEqual({
        digest,
        size: content.length,
      });
      expect(failing).toHaveBeenCalled();
    } finally {
      failing.mockRestore();
    }
  });

  it('refuses content whose running hash does not match the digest', async () => {
    const registry = new Registry(new InMemoryDriver());
    const upload = await registry.uploads.start('r');
    const wrong = Digest.of('sha256', 'something else');
    await expect(
      registry.uploads.commit('r', upload.id, wrong, chunks(randomBytes(2 * 1024 * 1024), 65_536)),
    ).rejects.toMatchObject({ code: 'DIGEST_INVALID' });
  });
});
