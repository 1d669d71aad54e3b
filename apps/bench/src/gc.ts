import { execFile } from 'node:child_process';
import { cp, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Swift } from '@regop/peers';
import { type Backend, REGISTRY_MAIN, storageConfig } from './servers.js';
import { openStore, populateImages } from './stores.js';

const run = promisify(execFile);

async function timed(command: string, args: string[]): Promise<number> {
  const start = process.hrtime.bigint();
  await run(command, args, { maxBuffer: 1 << 28 });
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** `rm -rf`, which removes a tree of 300,000 files in seconds where fs.rm took minutes. */
export const removeTree = (path: string) => run('rm', ['-rf', path]);

/**
 * Seconds that `registry garbage-collect` and (when it runs) `docker-registry garbage-collect` take on a store of
 * `manifests` images of ten blobs each, one in ten deleted, each on its own copy named `<name>-ours` and
 * `<name>-theirs` below `dir` (a directory copied, or a Swift container populated the same way twice).
 */
export async function collectGarbage(
  backend: Backend,
  dir: string,
  name: string,
  manifests: number,
  swift?: Swift,
): Promise<{ ours: number; theirs: number | undefined }> {
  const names = { ours: `${name}-ours`, theirs: `${name}-theirs` };
  process.stderr.write(`populating ${manifests} manifests, ${manifests * 10} blobs on ${backend}...\n`);
  await populateImages(await openStore(backend, dir, names.ours, swift), manifests);
  if (backend === 'filesystem') await cp(join(dir, names.ours), join(dir, names.theirs), { recursive: true });
  else await populateImages(await openStore(backend, dir, names.theirs, swift), manifests);
  const config = async (store: string) => {
    const file = join(dir, `${store}.yml`);
    await writeFile(file, `version: 0.1\n${storageConfig(backend, dir, store, swift)}\n`);
    return file;
  };
  const ours = await timed(process.execPath, [
    REGISTRY_MAIN,
    'garbage-collect',
    await config(names.ours),
    '--grace',
    '0s',
    '-q',
  ]);
  let theirs: number | undefined;
  try {
    theirs = await timed('docker-registry', ['garbage-collect', await config(names.theirs)]);
  } catch (err) {
    process.stderr.write(
      `docker-registry garbage-collect not run: ${(err as Error).message.split('\n')[0]}\n`,
    );
  }
  return { ours, theirs };
}

/** Times `registry garbage-collect` and, when installed, docker-registry's, each on its own copy of one store. */
export async function benchGarbageCollection(manifests: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'regop-bench-gc-'));
  try {
    const { ours, theirs } = await collectGarbage('filesystem', dir, 'gc', manifests);
    const ratio = theirs === undefined ? '' : ` | ${(ours / theirs).toFixed(2)}x the time`;
    return `| garbage-collect, ${manifests * 10} blobs and ${manifests} manifests (s) | ${ours.toFixed(2)} | ${theirs?.toFixed(2) ?? '-'}${ratio} |\n`;
  } finally {
    await removeTree(dir);
  }
}
