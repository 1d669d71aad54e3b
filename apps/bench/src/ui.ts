import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSwift } from '@regop/peers';
import { median, timedRequest } from './client.js';
import { type Backend, OURS, startRegistry, storageConfig } from './servers.js';
import { entryName, openStore, populateListings } from './stores.js';

const SIZES = [10, 10_000];
const REQUESTS = 20;

/**
 * The web UI's first page of repositories and of a repository's tags, for a store of 10 and of 10,000 of each:
 * the first request (nothing cached; the process warmed on another page) and the median of 20 after it.
 */
export async function benchUi(backend: Backend): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'regop-bench-ui-'));
  const swift = backend === 'filesystem' ? undefined : await startSwift();
  const rows: string[] = [];
  try {
    for (const size of SIZES) {
      const name = `ui${size}`;
      process.stderr.write(`populating ${size} repositories and ${size} tags on ${backend}...\n`);
      await populateListings(await openStore(backend, dir, name, swift), size);
      for (const [page, path] of [
        ['repositories, first page', '/ui'],
        ['tags of big/tags, first page', '/ui/repositories/big/tags'],
      ] as const) {
        // A registry of its own for each page, so the first request finds nothing cached by another page.
        const { url, server } = await startRegistry(dir, name, OURS, {
          storage: storageConfig(backend, dir, name, swift),
          extra: ['ui: { enabled: true }'],
        });
        try {
          for (let i = 0; i < REQUESTS; i++)
            await timedRequest('GET', `${url}/ui/repositories/lib/r${entryName(1)}`);
          const first = await timedRequest('GET', `${url}${path}`);
          const after: number[] = [];
          for (let i = 0; i < REQUESTS; i++) after.push(await timedRequest('GET', `${url}${path}`));
          rows.push(
            `| ${page} | ${size.toLocaleString('en')} | ${first.toFixed(1)} | ${median(after).toFixed(1)} |`,
          );
        } finally {
          await server.stop();
        }
      }
    }
  } finally {
    await swift?.stop();
    await rm(dir, { recursive: true, force: true });
  }
  return `\n| page (${backend}) | entries | first request, ms | median of ${REQUESTS} after, ms |\n| --- | --- | --- | --- |\n${rows.join('\n')}\n`;
}
