import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Swift, startSwift } from '@regop/peers';
import { median, timedRequest } from './client.js';
import { collectGarbage, removeTree } from './gc.js';
import { type Backend, OURS, startRegistry, storageConfig } from './servers.js';
import { entryName, openStore, populateListings } from './stores.js';

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

/** Microseconds per blob of each collector on a store of `blobs` blobs (see collectGarbage). */
async function collect(
  backend: Backend,
  dir: string,
  swift: Swift | undefined,
  blobs: number,
): Promise<{ ours: number; theirs: number | undefined }> {
  const name = `scale-g${blobs}`;
  const { ours, theirs } = await collectGarbage(backend, dir, name, blobs / 10, swift);
  process.stderr.write(
    `  garbage-collect [${blobs}]: ours ${ours.toFixed(2)} s, docker-registry ${theirs?.toFixed(2) ?? '-'} s\n`,
  );
  await removeTree(join(dir, `${name}-ours`));
  await removeTree(join(dir, `${name}-theirs`));
  return { ours: (ours * 1e6) / blobs, theirs: theirs === undefined ? undefined : (theirs * 1e6) / blobs };
}
