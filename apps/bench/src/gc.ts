import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FilesystemDriver } from '@regop/storage-fs';
import { REGISTRY_MAIN } from './servers.js';
import { populateImages } from './stores.js';

const run = promisify(execFile);

export async function timed(command: string, args: string[]): Promise<number> {
  const start = process.hrtime.bigint();
  await run(command, args, { maxBuffer: 1 << 28 });
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Times `registry garbage-collect` and, when installed, docker-registry's, each on its own copy of one store. */
export async function benchGarbageCollection(manifests: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'regop-bench-gc-'));
  try {
    process.stderr.write(`populating ${manifests} manifests, ${manifests * 10} blobs...\n`);
    await populateImages(new FilesystemDriver({ rootDirectory: join(dir, 'ours') }), manifests);
    await cp(join(dir, 'ours'), join(dir, 'theirs'), { recursive: true });
    const config = async (name: string) => {
      const file = join(dir, `${name}.yml`);
      await writeFile(
        file,
        `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, name)}\n  delete:\n    enabled: true\n`,
      );
      return file;
    };
    const ours = await timed(process.execPath, [
      REGISTRY_MAIN,
      'garbage-collect',
      await config('ours'),
      '--grace',
      '0s',
      '-q',
    ]);
    let theirs: number | undefined;
    try {
      theirs = await timed('docker-registry', ['garbage-collect', await config('theirs')]);
    } catch (err) {
      process.stderr.write(
        `docker-registry garbage-collect not run: ${(err as Error).message.split('\n')[0]}\n`,
      );
    }
    const ratio = theirs === undefined ? '' : ` | ${(ours / theirs).toFixed(2)}x the time`;
    return `| garbage-collect, ${manifests * 10} blobs and ${manifests} manifests (s) | ${ours.toFixed(2)} | ${theirs?.toFixed(2) ?? '-'}${ratio} |\n`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
