import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Digest, MediaType, paths, Registry } from '@regop/registry';
import { FilesystemDriver } from '@regop/storage-fs';
import { pool } from './client.js';
import { REGISTRY_MAIN } from './servers.js';

const run = promisify(execFile);

/** A filesystem store of `manifests` images of ten blobs each, one image in ten deleted (garbage). */
async function populate(root: string, manifests: number): Promise<void> {
  const driver = new FilesystemDriver({ rootDirectory: root });
  const registry = new Registry(driver);
  const pushed: { repo: string; digest: Digest }[] = [];
  await pool(manifests, 32, async (i) => {
    const repo = `gc/r${i % 50}`;
    const blobs = Array.from({ length: 10 }, (_, j) => Buffer.from(`blob ${i}-${j} ${Math.random()}`));
    for (const blob of blobs) {
      const digest = Digest.of('sha256', blob);
      await driver.putContent(paths.blobData(digest), blob);
      await registry.blobs.link(repo, digest);
    }
    const [config, ...layers] = blobs.map((b) => ({ digest: `${Digest.of('sha256', b)}`, size: b.length }));
    const body = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l })),
      }),
    );
    pushed.push({
      repo,
      ...(await registry.manifests.put(repo, { kind: 'tag', tag: `t${i}` }, MediaType.ociManifest, body)),
    });
  });
  for (const m of pushed.slice(0, Math.floor(manifests / 10)))
    await registry.manifests.delete(m.repo, m.digest);
}

async function timed(command: string, args: string[]): Promise<number> {
  const start = process.hrtime.bigint();
  await run(command, args, { maxBuffer: 1 << 28 });
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Times `registry garbage-collect` and, when installed, docker-registry's, each on its own copy of one store. */
export async function benchGarbageCollection(manifests: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'regop-bench-gc-'));
  try {
    process.stderr.write(`populating ${manifests} manifests, ${manifests * 10} blobs...\n`);
    await populate(join(dir, 'ours'), manifests);
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
