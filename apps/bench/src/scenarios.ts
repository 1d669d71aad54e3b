import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { repeatStream } from '@regop/storage';
import {
  digestOf,
  digestOfRepeated,
  expectStatus,
  pool,
  pushChunked,
  pushMonolithic,
  send,
} from './client.js';

const MiB = 1024 * 1024;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export interface Target {
  label: string;
  url: string;
  /** A run-unique repository prefix, so runs never collide with earlier data. */
  prefix: string;
}

export interface Scenario {
  name: string;
  unit: string;
  /** True when a larger number is better. */
  higherIsBetter: boolean;
  setup?(target: Target): Promise<void>;
  run(target: Target, round: number): Promise<number>;
}

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;

function manifestFor(
  config: { digest: string; size: number },
  layers: { digest: string; size: number }[],
): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l })),
    }),
  );
}

async function putManifest(target: Target, repo: string, ref: string, manifest: Buffer) {
  await expectStatus(
    send('PUT', `${target.url}/v2/${repo}/manifests/${ref}`, {
      body: manifest,
      headers: { 'content-type': OCI_MANIFEST },
    }),
    201,
    'PUT manifest',
  );
}

const blobBuffers: Buffer[] = [];

/**
 * Blobs made unique per round and target (the first bytes carry a counter), digests computed before timing.
 * The same buffers serve every round: fresh ones (hundreds of MiB a round) had this process collecting them
 * while later rounds were timed, on the CPUs the servers measured run on.
 */
function blobs(count: number, size: number, salt: string): { blob: Buffer; digest: string }[] {
  return Array.from({ length: count }, (_, i) => {
    let blob = blobBuffers[i];
    if (blob?.length !== size) {
      blob = randomBytes(size);
      blobBuffers[i] = blob;
    }
    blob.write(`${salt}-${i}-${Math.random()}`.padEnd(64, '-'), 0);
    return { blob, digest: digestOf(blob) };
  });
}

const BLOB_COUNT = 4;
const BLOB_SIZE = 64 * MiB;
const pulled = new Map<string, string[]>();
const run = promisify(execFile);

export const pushMonolithicScenario: Scenario = {
  name: 'blob push, monolithic (4 x 64 MiB)',
  unit: 'MB/s',
  higherIsBetter: true,
  async run(target, round) {
    const set = blobs(BLOB_COUNT, BLOB_SIZE, `${target.label}-mono-${round}`);
    const start = process.hrtime.bigint();
    for (const { blob, digest } of set)
      await pushMonolithic(target.url, `${target.prefix}/blobs`, blob, digest);
    const s = seconds(start);
    pulled.set(
      target.label,
      set.map((b) => b.digest),
    );
    return (BLOB_COUNT * BLOB_SIZE) / 1e6 / s;
  },
};

export const pushChunkedScenario: Scenario = {
  name: 'blob push, chunked 8 MiB PATCHes (4 x 64 MiB)',
  unit: 'MB/s',
  higherIsBetter: true,
  async run(target, round) {
    const set = blobs(BLOB_COUNT, BLOB_SIZE, `${target.label}-chunked-${round}`);
    const start = process.hrtime.bigint();
    for (const { blob, digest } of set)
      await pushChunked(target.url, `${target.prefix}/blobs`, blob, digest, 8 * MiB);
    return (BLOB_COUNT * BLOB_SIZE) / 1e6 / seconds(start);
  },
};

/**
 * Downloads `urls` with one curl (a faster receiver than Node's client) on one connection, discarding the
 * bodies; returns the seconds curl spent on the transfers, without its own start (as long as a 64 MiB transfer
 * here), or undefined without curl.
 */
async function curlDownload(urls: string[]): Promise<number | undefined> {
  const args = ['-s', '-w', '%{http_code} %{time_total}\\n'];
  for (const url of urls) args.push('-o', '/dev/null', url);
  let stdout: string;
  try {
    ({ stdout } = await run('curl', args));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const lines = stdout.trim().split('\n');
  let total = 0;
  for (const [i, line] of lines.entries()) {
    const [code, time] = line.split(' ');
    if (code !== '200') throw new Error(`GET ${urls[i]}: HTTP ${code}`);
    total += Number(time);
  }
  return total;
}

/** Downloads `urls` with Node's client, one after another; returns the seconds taken. */
async function nodeDownload(urls: string[]): Promise<number> {
  const start = process.hrtime.bigint();
  for (const url of urls) {
    const { status } = await send('GET', url, { keepBody: false });
    if (status !== 200) throw new Error(`GET ${url}: HTTP ${status}`);
  }
  return seconds(start);
}

export const pullScenario: Scenario = {
  name: 'blob pull (4 x 64 MiB, curl, no client hashing)',
  unit: 'MB/s',
  higherIsBetter: true,
  async run(target) {
    const digests = pulled.get(target.label) ?? [];
    if (digests.length === 0) throw new Error('blob pull runs after the monolithic push');
    const urls = digests.map((digest) => `${target.url}/v2/${target.prefix}/blobs/blobs/${digest}`);
    const s = (await curlDownload(urls)) ?? (await nodeDownload(urls));
    return (digests.length * BLOB_SIZE) / 1e6 / s;
  },
};

/** A manifest to hammer with HEAD and GET. */
async function seedManifest(target: Target): Promise<string> {
  const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
  const layer = randomBytes(1024);
  await pushMonolithic(target.url, `${target.prefix}/hot`, config, digestOf(config));
  await pushMonolithic(target.url, `${target.prefix}/hot`, layer, digestOf(layer));
  await putManifest(
    target,
    `${target.prefix}/hot`,
    'latest',
    manifestFor({ digest: digestOf(config), size: config.length }, [
      { digest: digestOf(layer), size: layer.length },
    ]),
  );
  return `${target.url}/v2/${target.prefix}/hot/manifests/latest`;
}

/**
 * Requests per second from ApacheBench (which, unlike wrk, handles HEAD), keep-alive, 32 connections, 5 s;
 * `extra` adds ab arguments (-A user:password sends Basic credentials on every request).
 */
export async function ab(url: string, method: 'HEAD' | 'GET', extra: string[] = []): Promise<number> {
  const args = [
    '-q',
    '-k',
    '-c',
    '32',
    '-t',
    '5',
    '-n',
    '10000000',
    '-H',
    `Accept: ${OCI_MANIFEST}`,
    ...extra,
  ];
  const { stdout } = await run('ab', [...args, ...(method === 'HEAD' ? ['-i'] : []), url], {
    maxBuffer: 1 << 24,
  });
  const failed = /Failed requests:\s+(\d+)/.exec(stdout)?.[1];
  const non2xx = /Non-2xx responses:\s+(\d+)/.exec(stdout)?.[1];
  if (Number(failed ?? 0) > 0 || Number(non2xx ?? 0) > 0) throw new Error(`ab saw failures:\n${stdout}`);
  return Number(/Requests per second:\s+([\d.]+)/.exec(stdout)?.[1] ?? 0);
}

const hot = new Map<string, string>();
function manifestRate(method: 'HEAD' | 'GET'): Scenario {
  return {
    name: `manifest ${method} by tag (32 connections, ab)`,
    unit: 'req/s',
    higherIsBetter: true,
    async setup(target) {
      if (!hot.has(target.label)) hot.set(target.label, await seedManifest(target));
    },
    run: (target) => ab(hot.get(target.label) as string, method),
  };
}

export const manifestHeadScenario = manifestRate('HEAD');
export const manifestGetScenario = manifestRate('GET');

/** One small image as a client pushes it: HEAD each blob, upload what is missing, then the manifest. */
async function pushSmallImage(target: Target, repo: string, tag: string): Promise<void> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', tag, n: Math.random() }));
  const layers = [randomBytes(8192), randomBytes(16384)];
  for (const blob of [config, ...layers]) {
    const digest = digestOf(blob);
    const head = await send('HEAD', `${target.url}/v2/${repo}/blobs/${digest}`);
    if (head.status !== 200) await pushMonolithic(target.url, repo, blob, digest);
  }
  const manifest = manifestFor(
    { digest: digestOf(config), size: config.length },
    layers.map((l) => ({ digest: digestOf(l), size: l.length })),
  );
  await putManifest(target, repo, tag, manifest);
}

export const smallImagesScenario: Scenario = {
  name: '200 small-image pushes, concurrency 16',
  unit: 'images/s',
  higherIsBetter: true,
  async run(target, round) {
    const start = process.hrtime.bigint();
    await pool(200, 16, (i) => pushSmallImage(target, `${target.prefix}/small-${i % 20}`, `r${round}-${i}`));
    return 200 / seconds(start);
  },
};

export const tagsListScenario: Scenario = {
  name: 'tags list of 2000 tags',
  unit: 'ms',
  higherIsBetter: false,
  async setup(target) {
    const repo = `${target.prefix}/tags`;
    const config = Buffer.from('{}');
    await pushMonolithic(target.url, repo, config, digestOf(config));
    const manifest = manifestFor({ digest: digestOf(config), size: config.length }, []);
    await pool(2000, 16, (i) => putManifest(target, repo, `tag-${String(i).padStart(4, '0')}`, manifest));
  },
  async run(target) {
    const start = process.hrtime.bigint();
    const r = await expectStatus(
      send('GET', `${target.url}/v2/${target.prefix}/tags/tags/list`),
      200,
      'tags list',
    );
    const ms = seconds(start) * 1000;
    const count = (JSON.parse(r.body.toString()) as { tags: string[] }).tags.length;
    if (count !== 2000) throw new Error(`tags list returned ${count} tags`);
    return ms;
  },
};

export const catalogScenario: Scenario = {
  name: 'catalog of 1000 repositories, n=100 pages via Link',
  unit: 'ms',
  higherIsBetter: false,
  async setup(target) {
    const config = Buffer.from('{"catalog":true}');
    const source = `${target.prefix}/catalog-source`;
    await pushMonolithic(target.url, source, config, digestOf(config));
    const manifest = manifestFor({ digest: digestOf(config), size: config.length }, []);
    await pool(1000, 16, async (i) => {
      const repo = `${target.prefix}/cat/r${String(i).padStart(4, '0')}`;
      await expectStatus(
        send('POST', `${target.url}/v2/${repo}/blobs/uploads/?mount=${digestOf(config)}&from=${source}`),
        201,
        'mount',
      );
      await putManifest(target, repo, 'v1', manifest);
    });
  },
  async run(target) {
    const start = process.hrtime.bigint();
    let next: string | undefined = `${target.url}/v2/_catalog?n=100`;
    let total = 0;
    while (next) {
      const r = await expectStatus(send('GET', next), 200, 'catalog');
      total += (JSON.parse(r.body.toString()) as { repositories: string[] }).repositories.length;
      const link = /<([^>]+)>;\s*rel="next"/.exec(String(r.headers.link ?? ''));
      next = link ? new URL(link[1] as string, target.url).toString() : undefined;
    }
    const ms = seconds(start) * 1000;
    if (total < 1000) throw new Error(`catalog listed ${total} repositories`);
    return ms;
  },
};

/** Pushes and pulls one blob of `size` bytes streamed from a repeated block; returns nothing, RSS is sampled. */
export async function bigBlobRoundTrip(target: Target, size: number): Promise<void> {
  const block = randomBytes(4 * MiB);
  block.write(`${target.label}-${Math.random()}`, 0);
  const digest = digestOfRepeated(block, size);
  const repo = `${target.prefix}/big`;
  const post = await expectStatus(
    send('POST', `${target.url}/v2/${repo}/blobs/uploads/`),
    202,
    'POST upload',
  );
  const url = new URL(post.headers.location as string, target.url);
  url.searchParams.set('digest', digest);
  await expectStatus(
    send('PUT', url.toString(), {
      body: repeatStream(block, size),
      headers: { 'content-type': 'application/octet-stream', 'content-length': size },
    }),
    201,
    'PUT big blob',
  );
  const r = await send('GET', `${target.url}/v2/${repo}/blobs/${digest}`, { keepBody: false });
  if (r.status !== 200) throw new Error(`GET big blob: HTTP ${r.status}`);
}

/** Requests mixedRequests makes, and after how many of them it first reads the RSS. */
export const MIXED_REQUESTS = 40_000;
export const MIXED_FIRST = 5_000;

/**
 * MIXED_REQUESTS requests, 16 clients at once, of what a registry mostly answers: pulls (a manifest by tag, then
 * its layer), misses (a blob; a manifest in one of a thousand repositories that do not exist) and uploads
 * started and cancelled. Calls `mark` after MIXED_FIRST requests and after the last.
 */
export async function mixedRequests(target: Target, mark: () => Promise<void>): Promise<void> {
  const repo = `${target.prefix}/mixed`;
  await pushSmallImage(target, repo, 'v1');
  const manifest = await expectStatus(
    send('GET', `${target.url}/v2/${repo}/manifests/v1`, { headers: { accept: OCI_MANIFEST } }),
    200,
    'GET manifest',
  );
  const layer = (JSON.parse(manifest.body.toString()) as { layers: { digest: string }[] }).layers[0]?.digest;
  // distribution answers an OCI manifest only to a client that accepts one.
  const headers = { accept: OCI_MANIFEST };
  const expect = async (method: string, path: string, want: number) =>
    (
      await expectStatus(
        send(method, `${target.url}${path}`, { headers, keepBody: false }),
        want,
        `${method} ${path}`,
      )
    ).headers;
  // Five requests each.
  const round = async (i: number) => {
    await expect('GET', `/v2/${repo}/manifests/v1`, 200);
    await expect('GET', `/v2/${repo}/blobs/${layer}`, 200);
    if (i % 2 === 0) await expect('GET', `/v2/${repo}/blobs/${digestOf(Buffer.from(`absent ${i}`))}`, 404);
    else await expect('GET', `/v2/${target.prefix}/absent-${i % 1000}/manifests/latest`, 404);
    const started = await expect('POST', `/v2/${repo}/blobs/uploads/`, 202);
    const upload = new URL(started.location as string, target.url);
    await expect('DELETE', upload.pathname + upload.search, 204);
  };
  await pool(MIXED_FIRST / 5, 16, round);
  await mark();
  await pool((MIXED_REQUESTS - MIXED_FIRST) / 5, 16, (i) => round(MIXED_FIRST / 5 + i));
  await mark();
}

export const SCENARIOS: Scenario[] = [
  pushMonolithicScenario,
  pushChunkedScenario,
  pullScenario,
  manifestHeadScenario,
  manifestGetScenario,
  smallImagesScenario,
  tagsListScenario,
  catalogScenario,
];
