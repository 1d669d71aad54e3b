import { mkdir, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { DriverDescriptor } from '@regop/storage';
import * as z from 'zod';

const optionsSchema = z.strictObject({
  rootdirectory: z.string().min(1).default('/var/lib/registry'),
  /** distribution's thread limit; here the process's UV_THREADPOOL_SIZE governs (the config loader says so). */
  maxthreads: z.number().int().min(25).optional(),
});

/** storage.filesystem: the root is checked to take writes, unless the registry only reads. */
export const filesystem: DriverDescriptor<typeof optionsSchema> = {
  name: 'filesystem',
  optionsSchema,
  async create(options, { readOnly }) {
    if (!readOnly) await checkWritableRoot(options.rootdirectory);
    const { FilesystemDriver } = await import('./driver.js');
    return new FilesystemDriver({ rootDirectory: options.rootdirectory });
  },
};

/** File systems that hold no data, by statfs magic: Node's recursive mkdir loops for ever in /proc. */
const PSEUDO_FS = new Map([
  [0x9fa0, 'procfs'],
  [0x62656572, 'sysfs'],
  [0x1cd1, 'devpts'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
]);

/**
 * The filesystem root must take writes: found at start, naming the key, not at the first push as a 500. The
 * missing directories are made one at a time, so a failure names its real cause (a recursive mkdir says
 * ENOENT where the file system is read-only).
 */
async function checkWritableRoot(root: string): Promise<void> {
  const missing: string[] = [];
  let existing = resolve(root);
  while (!(await stat(existing).catch(() => undefined)) && dirname(existing) !== existing) {
    missing.unshift(existing);
    existing = dirname(existing);
  }
  const kind = PSEUDO_FS.get((await statfs(existing).catch(() => undefined))?.type ?? -1);
  if (kind)
    throw new Error(`storage.filesystem.rootdirectory: ${root} is on ${kind}, which cannot hold data`);
  const probe = join(root, `.regop-write-check-${process.pid}`);
  try {
    for (const dir of missing)
      await mkdir(dir).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
    await writeFile(probe, '');
    await rm(probe, { force: true });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`storage.filesystem.rootdirectory: cannot write to ${root} (${e.code ?? e.message})`);
  }
}
