import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BaseDriver } from '@regop/storage';
import { runDriverContract } from '@regop/storage/contract';
import { describe, expect, it } from 'vitest';
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
});
