import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BaseDriver } from '@regop/storage';
import { runDriverContract } from '@regop/storage/contract';
import { describe, expect, it, vi } from 'vitest';
import { FilesystemDriver } from './driver.js';

runDriverContract('filesystem', async () => {
  const root = await mkdtemp(join(tmpdir(), 'regop-fs-'));
  return {
    driver: new FilesystemDriver({ rootDirectory: root }),
    cleanup: () => rm(root, { recursive: true }),
  };
});

describe('filesystem driver specifics', () => {
  it('keeps paths inside the root and leaves no temporary files after putContent', async () => {
    const root = await mkdtemp(join(tmpdir(), 'regop-fs-'));
    // As the registry holds it: behind the base wrapper, which refuses paths before the driver sees them.
    const driver = BaseDriver.wrap(new FilesystemDriver({ rootDirectory: join(root, 'store') }));
    await driver.putContent('/docker/registry/v2/x/link', 'sha256:00');
    expect(await readdir(join(root, 'store/docker/registry/v2/x'))).toEqual(['link']);
    await expect(driver.putContent('/../escape', 'x')).rejects.toThrow(/invalid path/);
    expect(await readdir(root)).toEqual(['store']);
    await rm(root, { recursive: true });
  });

  it('keeps a large listing only while its directory is unchanged: an entry added or removed shows at once', async () => {
    const root = await mkdtemp(join(tmpdir(), 'regop-fs-'));
    const dir = join(root, 'tags');
    await mkdir(dir);
    await Promise.all(
      Array.from({ length: 1200 }, (_, i) => mkdir(join(dir, `t${String(i).padStart(4, '0')}`))),
    );
    const driver = new FilesystemDriver({ rootDirectory: root });
    // The directory changed just now: a listing is kept only once its last change is over a second old.
    vi.useFakeTimers({ now: Date.now() + 5000, toFake: ['Date'] });
    try {
      const first = await driver.list('/tags');
      expect(first.length).toBe(1200);
      first.length = 0;
      expect((await driver.list('/tags')).length).toBe(1200);
      await mkdir(join(dir, 't9999'));
      expect((await driver.list('/tags')).at(-1)).toBe('/tags/t9999');
      await rm(join(dir, 't0000'), { recursive: true });
      const after = await driver.list('/tags');
      expect([after.length, after[0]]).toEqual([1200, '/tags/t0001']);
    } finally {
      vi.useRealTimers();
      await rm(root, { recursive: true });
    }
  });
});
