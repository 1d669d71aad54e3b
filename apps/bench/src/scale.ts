import { execFile } from 'node:child_process';
import { cp, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Swift, startSwift } from '@regop/peers';
import { median, timedRequest } from './client.js';
import { timed } from './gc.js';
import { type Backend, OURS, REGISTRY_MAIN, startRegistry, storageConfig } from './servers.js';
import { entryName, openStore, populateImages, populateListings } from './stores.js';

const REQUESTS = 20;
const PAGE = 100;
const OCI = 'application/vnd.oci.image.manifest.v1+json';

interface Row {
  metric: string;
  unit: string;
  values: (number | undefined)[];
}

/**
 * How this registry's requests and garbage collection cost as a store grows: for each size, a store of that many
 * repositories and of a repository with that many tags (written straight through the content model and the
 * driver), where the first and a deep page of the catalog and of the tags, a tag resolve and a manifest GET are
 * timed (median of 20, after one untimed); and a store of that many blobs (a tenth as many images, one in ten
 * deleted) collected by this registry and by docker-registry, each on its own copy.
 */
export async function benchScale(backend: Backend, sizes: number[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'regop-bench-scale-'));
  const swift = backend === 'filesystem' ? undefined : await startSwift();
  const rows: Row[] = [];
  const row = (metric: string, unit: string, i: number, value: number | undefined) => {
    let found = rows.find((r) => r.metric === metric);
    if (!found) {
      found = { metric, unit, values: sizes.map(() => undefined) };
      rows.push(found);
    }
    found.values[i] = value;
  };
  try {
    for (const [i, size] of sizes.entries()) {
      const listing = `scale-l${size}`;
      process.stderr.write(`populating ${size} repositories and ${size} tags on ${backend}...\n`);
      const digest = await populateListings(await openStore(backend, dir, listing, swift), size);
      const { url, server } = await startRegistry(dir, listing, OURS, {
        storage: storageConfig(backend, dir, listing, swift),
      });
      try {
        const deep = entryName(Math.max(0, size - 2 * PAGE));
        const requests: [string, 'GET' | 'HEAD', string][] = [
          ['catalog, first page', 'GET', `/v2/_catalog?n=${PAGE}`],
          ['catalog, a deep page', 'GET', `/v2/_catalog?n=${PAGE}&last=lib/r${deep}`],
          ['tags list, first page', 'GET', `/v2/big/tags/tags/list?n=${PAGE}`],
          ['tags list, a deep page', 'GET', `/v2/big/tags/tags/list?n=${PAGE}&last=t${deep}`],
          ['tag resolve (manifest HEAD by tag)', 'HEAD', `/v2/big/tags/manifests/t${entryName(size - 1)}`],
          ['manifest GET by digest', 'GET', `/v2/big/tags/manifests/${digest}`],
        ];
        for (const [metric, method, path] of requests) {
          await timedRequest(method, `${url}${path}`, { accept: OCI });
          const times: number[] = [];
          for (let n = 0; n < REQUESTS; n++)
            times.push(await timedRequest(method, `${url}${path}`, { accept: OCI }));
          row(metric, 'ms', i, median(times));
          process.stderr.write(`  ${metric} [${size}]: ${median(times).toFixed(2)} ms\n`);
        }
      } finally {
        await server.stop();
      }
      const gc = await collect(backend, dir, swift, size);
      row('garbage-collect, this registry', 'µs per blob', i, gc.ours);
      row('garbage-collect, docker-registry', 'µs per blob', i, gc.theirs);
    }
  } finally {
    await swift?.stop();
    await removeTree(dir);
  }
  const fmt = (n: number | undefined) => (n === undefined ? '-' : n >= 100 ? n.toFixed(0) : n.toFixed(2));
  const first = 0;
  const last = sizes.length - 1;
  const lines = rows.map((r) => {
    const a = r.values[first];
    const b = r.values[last];
    const growth = a && b ? `${(b / a).toFixed(2)}x` : '-';
    return `| ${r.metric} (${r.unit}) | ${r.values.map(fmt).join(' | ')} | ${growth} |`;
  });
  const ours = rows.find((r) => r.metric.endsWith('this registry'));
  const theirs = rows.find((r) => r.metric.endsWith('docker-registry'));
  if (ours && theirs)
    lines.push(
      `| garbage-collect, this registry vs docker-registry (time per blob) | ${sizes
        .map((_, i) => {
          const [a, b] = [ours.values[i], theirs.values[i]];
          return a && b ? `${(a / b).toFixed(2)}x` : '-';
        })
        .join(' | ')} | |`,
    );
  const header = `| metric (${backend}) | ${sizes.map((s) => s.toLocaleString('en')).join(' | ')} | ${sizes[last]?.toLocaleString('en')} vs ${sizes[first]?.toLocaleString('en')} |`;
  return `\n${header}\n|${' --- |'.repeat(sizes.length + 2)}\n${lines.join('\n')}\n`;
}

/** `rm -rf`, which removes a tree of 300,000 files in seconds where fs.rm took minutes. */
const removeTree = (path: string) => promisify(execFile)('rm', ['-rf', path]);

/**
 * Microseconds per blob that `registry garbage-collect` and `docker-registry garbage-collect` take on a store of
 * `blobs` blobs, each on its own copy (a directory copied, or a Swift container populated the same way twice).
 */
async function collect(
  backend: Backend,
  dir: string,
  swift: Swift | undefined,
  blobs: number,
): Promise<{ ours: number; theirs: number | undefined }> {
  const names = { ours: `scale-g${blobs}-ours`, theirs: `scale-g${blobs}-theirs` };
  process.stderr.write(`populating ${blobs} blobs in ${blobs / 10} images on ${backend}...\n`);
  await populateImages(await openStore(backend, dir, names.ours, swift), blobs / 10);
  if (backend === 'filesystem') await cp(join(dir, names.ours), join(dir, names.theirs), { recursive: true });
  else await populateImages(await openStore(backend, dir, names.theirs, swift), blobs / 10);
  const config = async (name: string) => {
    const file = join(dir, `${name}.yml`);
    await writeFile(file, `version: 0.1\n${storageConfig(backend, dir, name, swift)}\n`);
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
      `docker-registry garbage-collect failed: ${(err as Error).message.split('\n')[0]}\n`,
    );
  }
  process.stderr.write(
    `  garbage-collect [${blobs}]: ours ${ours.toFixed(2)} s, docker-registry ${theirs?.toFixed(2) ?? '-'} s\n`,
  );
  await removeTree(join(dir, names.ours));
  await removeTree(join(dir, names.theirs));
  return { ours: (ours * 1e6) / blobs, theirs: theirs === undefined ? undefined : (theirs * 1e6) / blobs };
}
