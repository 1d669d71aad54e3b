import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDriver } from '@regop/drivers';
import { type Swift, startSwift } from '@regop/peers';
import { MediaType, parseConfigText, paths, Registry } from '@regop/registry';
import { expectStatus, pool, send } from './client.js';
import { type Backend, OURS, startRegistry, storageConfig } from './servers.js';

const SIZES = [10, 10_000];
const REQUESTS = 20;

/**
 * A store of `size` repositories of one tag each, and a repository `big/tags` of `size` tags, written straight
 * through the content model and the driver (pushing 10,000 of each would take longer than the measure).
 */
async function populate(backend: Backend, dir: string, name: string, size: number, swift?: Swift) {
  const { storage } = parseConfigText(`version: 0.1\n${storageConfig(backend, dir, name, swift)}\n`);
  const driver = await createDriver(storage, { readOnly: false });
  // Manifests name blobs that are not stored: the pages read manifests and tags, never layers.
  const registry = new Registry(driver, {
    validation: { layers: 'none', indexChildren: 'none', config: false },
  });
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: `sha256:${'1'.repeat(64)}`,
        size: 2,
      },
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${'2'.repeat(64)}`, size: 9 },
      ],
    }),
  );
  const { digest } = await registry.manifests.put(
    'big/tags',
    { kind: 'tag', tag: 't0' },
    MediaType.ociManifest,
    manifest,
  );
  await pool(size, 64, async (i) => {
    const repo = `lib/r${String(i).padStart(5, '0')}`;
    await driver.putContent(paths.tagCurrentLink(repo, 'latest'), Buffer.from(`${digest}`));
    await driver.putContent(paths.tagCurrentLink('big/tags', `t${i}`), Buffer.from(`${digest}`));
  });
}

/** Milliseconds of one GET, checked to answer 200. */
async function timedGet(url: string): Promise<number> {
  const started = process.hrtime.bigint();
  await expectStatus(send('GET', url), 200, `GET ${url}`);
  return Number(process.hrtime.bigint() - started) / 1e6;
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

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
      await populate(backend, dir, name, size, swift);
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
          for (let i = 0; i < REQUESTS; i++) await timedGet(`${url}/ui/repositories/lib/r00001`);
          const first = await timedGet(`${url}${path}`);
          const after: number[] = [];
          for (let i = 0; i < REQUESTS; i++) after.push(await timedGet(`${url}${path}`));
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
