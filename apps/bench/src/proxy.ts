import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Server } from '@regop/peers';
import { digestOf, expectStatus, median, pushMonolithic, send } from './client.js';
import { DOCKER_REGISTRY, OURS, startRegistry } from './servers.js';

const MiB = 1024 * 1024;
const run = promisify(execFile);
const OCI = 'application/vnd.oci.image.manifest.v1+json';

/**
 * Pulls an image as a client does: the manifest, then every blob four at a time with one curl (Node's client
 * spent as much CPU receiving as a cache spent serving, so on two cores it measured itself), bodies discarded.
 */
async function pullImage(base: string, repo: string, tag: string): Promise<number> {
  const started = process.hrtime.bigint();
  const manifest = await expectStatus(
    send('GET', `${base}/v2/${repo}/manifests/${tag}`, { headers: { accept: OCI } }),
    200,
    'GET manifest',
  );
  const { config, layers } = JSON.parse(manifest.body.toString()) as {
    config: { digest: string };
    layers: { digest: string }[];
  };
  const args = ['-s', '--parallel', '--parallel-max', '4', '-w', '%{http_code}\\n'];
  for (const digest of [config.digest, ...layers.map((l) => l.digest)])
    args.push('-o', '/dev/null', `${base}/v2/${repo}/blobs/${digest}`);
  const { stdout } = await run('curl', args);
  if (
    stdout
      .trim()
      .split('\n')
      .some((code) => code !== '200')
  )
    throw new Error(`GET blob: HTTP ${stdout}`);
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/**
 * Blob bytes the upstream's access log (Apache combined format) shows it sent: to docker-registry's proxy (Go's
 * HTTP client asked) and to anyone else.
 */
function upstreamBlobBytes(log: string): { go: number; other: number } {
  const sent = { go: 0, other: 0 };
  for (const m of log.matchAll(/"GET \/v2\/[^"]+\/blobs\/[^"]+" \d+ (\d+) "[^"]*" "([^"]*)"/g))
    sent[m[2]?.startsWith('Go-http-client') ? 'go' : 'other'] += Number(m[1]);
  return sent;
}

/**
 * A pull through a pull-through cache, cold (nothing cached) and warm, for this registry and docker-registry in
 * proxy mode, both caching one upstream docker-registry, beside a pull straight from the upstream and a plain
 * pull from this registry: an image of `layers` layers of `layerMiB` MiB, fresh caches each round.
 */
export async function benchProxy(rounds: number, layers = 4, layerMiB = 64): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'regop-bench-proxy-'));
  const servers: Server[] = [];
  try {
    const upstream = await startRegistry(dir, 'upstream', DOCKER_REGISTRY, { accessLog: true });
    servers.push(upstream.server);
    const plain = await startRegistry(dir, 'plain', OURS);
    servers.push(plain.server);
    // One image: its layers, a config and the manifest, pushed to the upstream and to the plain registry.
    const blobs = [
      Buffer.from('{"architecture":"amd64","os":"linux"}'),
      ...Array.from({ length: layers }, () => randomBytes(layerMiB * MiB)),
    ];
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: digestOf(blobs[0] as Buffer),
        size: (blobs[0] as Buffer).length,
      },
      layers: blobs.slice(1).map((b) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: digestOf(b),
        size: b.length,
      })),
    });
    for (const target of [upstream.url, plain.url]) {
      for (const blob of blobs) await pushMonolithic(target, 'bench/proxy', blob, digestOf(blob));
      await expectStatus(
        send('PUT', `${target}/v2/bench/proxy/manifests/v1`, {
          body: Buffer.from(manifest),
          headers: { 'content-type': OCI },
        }),
        201,
        'PUT manifest',
      );
    }
    const times = {
      oursCold: [] as number[],
      theirsCold: [] as number[],
      oursWarm: [] as number[],
      theirsWarm: [] as number[],
      direct: [] as number[],
      plain: [] as number[],
    };
    // Blob bytes each cache fetched from upstream for a cold and a warm pull.
    const fetched = { ours: [] as number[], theirs: [] as number[] };
    for (let round = 0; round < rounds; round++) {
      const caches = [
        {
          key: 'ours',
          ...(await startRegistry(dir, `ours-cache-${round}`, OURS, {
            extra: [`proxy: { remoteurl: "${upstream.url}" }`],
          })),
        },
        {
          key: 'theirs',
          ...(await startRegistry(dir, `theirs-cache-${round}`, DOCKER_REGISTRY, {
            extra: [`proxy: { remoteurl: "${upstream.url}" }`],
          })),
        },
      ];
      servers.push(...caches.map((c) => c.server));
      const sentBefore = upstreamBlobBytes(upstream.server.output());
      for (const c of round % 2 ? [...caches].reverse() : caches) {
        const other = upstreamBlobBytes(upstream.server.output()).other;
        const cold = await pullImage(c.url, 'bench/proxy', 'v1');
        const warm = await pullImage(c.url, 'bench/proxy', 'v1');
        if (c.key === 'ours') fetched.ours.push(upstreamBlobBytes(upstream.server.output()).other - other);
        (c.key === 'ours' ? times.oursCold : times.theirsCold).push(cold);
        (c.key === 'ours' ? times.oursWarm : times.theirsWarm).push(warm);
        process.stderr.write(
          `  proxy [${c.key} round ${round + 1}]: cold ${cold.toFixed(2)} s, warm ${warm.toFixed(2)} s\n`,
        );
      }
      times.direct.push(await pullImage(upstream.url, 'bench/proxy', 'v1'));
      times.plain.push(await pullImage(plain.url, 'bench/proxy', 'v1'));
      await Promise.all(caches.map((c) => c.server.stop()));
      // docker-registry's proxy also fetches in the background; what it fetched by its stop has been logged.
      await setTimeout(200);
      fetched.theirs.push(upstreamBlobBytes(upstream.server.output()).go - sentBefore.go);
    }
    const mb = (layers * layerMiB * MiB) / 1e6;
    const rate = (s: number[]) => mb / median(s);
    const images = (bytes: number[]) => (median(bytes) / (layers * layerMiB * MiB)).toFixed(2);
    const row = (what: string, a: number, b: number, ratio: string) =>
      `| ${what} (MB/s) | ${a.toFixed(0)} | ${b.toFixed(0)} | ${ratio} |\n`;
    return (
      row(
        'cold pull through the cache: this registry vs docker-registry proxy',
        rate(times.oursCold),
        rate(times.theirsCold),
        `${(rate(times.oursCold) / rate(times.theirsCold)).toFixed(2)}x`,
      ) +
      row(
        'cold pull through this cache vs straight from the upstream',
        rate(times.oursCold),
        rate(times.direct),
        `${(rate(times.oursCold) / rate(times.direct)).toFixed(2)}x`,
      ) +
      row(
        'warm pull through this cache vs a plain pull from this registry',
        rate(times.oursWarm),
        rate(times.plain),
        `${(rate(times.oursWarm) / rate(times.plain)).toFixed(2)}x`,
      ) +
      row(
        'warm pull: this registry vs docker-registry proxy',
        rate(times.oursWarm),
        rate(times.theirsWarm),
        `${(rate(times.oursWarm) / rate(times.theirsWarm)).toFixed(2)}x`,
      ) +
      `| upstream blob bytes fetched for a cold and a warm pull (images) | ${images(fetched.ours)} | ${images(fetched.theirs)} | |\n`
    );
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await rm(dir, { recursive: true, force: true });
  }
}
