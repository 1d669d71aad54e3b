import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { digestOf, expectStatus, pool, pushMonolithic, send } from './client.js';

const REGISTRY_MAIN = resolve(import.meta.dirname, '../../registry/dist/main.js');
const MiB = 1024 * 1024;
const OCI = 'application/vnd.oci.image.manifest.v1+json';

const freePort = () =>
  new Promise<number>((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
    });
  });

async function start(dir: string, name: string, command: string[], proxyOf?: string) {
  const port = await freePort();
  const config = join(dir, `${name}.yml`);
  await writeFile(
    config,
    [
      'version: 0.1',
      'log: { level: error, accesslog: { disabled: true } }',
      `storage: { filesystem: { rootdirectory: ${join(dir, name)} }, delete: { enabled: true } }`,
      `http: { addr: "127.0.0.1:${port}" }`,
      ...(proxyOf ? [`proxy: { remoteurl: "${proxyOf}" }`] : []),
      '',
    ].join('\n'),
  );
  const [program, ...args] = command as [string, ...string[]];
  const child = spawn(program, [...args, config], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    if (
      (await fetch(`${url}/v2/`).then(
        (r) => r.status,
        () => 0,
      )) === 200
    )
      return { url, child };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${name} did not come up`);
}

/** Pulls an image as a client does: the manifest, then every blob at four at a time, bodies drained. */
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
  const digests = [config.digest, ...layers.map((l) => l.digest)];
  await pool(digests.length, 4, async (i) => {
    await expectStatus(
      send('GET', `${base}/v2/${repo}/blobs/${digests[i]}`, { keepBody: false }),
      200,
      'GET blob',
    );
  });
  return Number(process.hrtime.bigint() - started) / 1e9;
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

/**
 * A pull through a pull-through cache, cold (nothing cached) and warm, for this registry and docker-registry in
 * proxy mode, both caching one upstream docker-registry, beside a pull straight from the upstream and a plain
 * pull from this registry: an image of `layers` layers of `layerMiB` MiB, fresh caches each round.
 */
export async function benchProxy(rounds: number, layers = 4, layerMiB = 64): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'regop-bench-proxy-'));
  const children: ChildProcess[] = [];
  const ours = [process.execPath, REGISTRY_MAIN, 'serve'];
  const theirs = ['docker-registry', 'serve'];
  try {
    const upstream = await start(dir, 'upstream', theirs);
    children.push(upstream.child);
    const plain = await start(dir, 'plain', ours);
    children.push(plain.child);
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
    for (let round = 0; round < rounds; round++) {
      const caches = [
        { key: 'ours', ...(await start(dir, `ours-cache-${round}`, ours, upstream.url)) },
        { key: 'theirs', ...(await start(dir, `theirs-cache-${round}`, theirs, upstream.url)) },
      ];
      children.push(...caches.map((c) => c.child));
      for (const c of round % 2 ? [...caches].reverse() : caches) {
        const cold = await pullImage(c.url, 'bench/proxy', 'v1');
        const warm = await pullImage(c.url, 'bench/proxy', 'v1');
        (c.key === 'ours' ? times.oursCold : times.theirsCold).push(cold);
        (c.key === 'ours' ? times.oursWarm : times.theirsWarm).push(warm);
        process.stderr.write(
          `  proxy [${c.key} round ${round + 1}]: cold ${cold.toFixed(2)} s, warm ${warm.toFixed(2)} s\n`,
        );
      }
      times.direct.push(await pullImage(upstream.url, 'bench/proxy', 'v1'));
      times.plain.push(await pullImage(plain.url, 'bench/proxy', 'v1'));
      for (const c of caches) c.child.kill('SIGTERM');
    }
    const mb = (layers * layerMiB * MiB) / 1e6;
    const rate = (s: number[]) => mb / median(s);
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
      )
    );
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  }
}
