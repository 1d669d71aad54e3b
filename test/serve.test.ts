import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPatch, pushBlob, randomBytes, sha256 } from './support/http.js';
import { freePort, startServer, stopAll } from './support/process.js';
import { REGISTRY_MAIN, startOurRegistry } from './support/registries.js';

describe('registry serve', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'regop-serve-'));
  });
  afterAll(async () => {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers / for load balancers, serves /debug/health and Prometheus metrics, logs JSON lines', async () => {
    const debugPort = await freePort();
    const registry = await startOurRegistry({
      root: join(dir, 'data1'),
      dir: join(dir, 'one'),
      extra: {
        http: { debug: { addr: `127.0.0.1:${debugPort}`, prometheus: { enabled: true } } },
        health: { storagedriver: { enabled: true, interval: '1s', threshold: 1 } },
      },
      // http.addr comes from the environment, as REGISTRY_* overrides allow.
      env: { REGISTRY_LOG_FIELDS_UNIT: 'registry/0' },
    });
    expect((await fetch(`${registry.url}/`)).status).toBe(200);
    const health = await fetch(`http://127.0.0.1:${debugPort}/debug/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({});
    await fetch(`${registry.url}/v2/nothing/tags/list`);
    const metrics = await (await fetch(`http://127.0.0.1:${debugPort}/metrics`)).text();
    expect(metrics).toMatch(/registry_http_requests_total\{handler="tags",method="GET",code="404"\} 1/);
    await registry.stop();
    const lines = registry
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'));
    expect(lines.length).toBeGreaterThan(2);
    for (const line of lines)
      expect(JSON.parse(line)).toMatchObject({ level: expect.any(Number), unit: 'registry/0' });
    expect(lines.some((l) => JSON.parse(l).http?.route === 'tags')).toBe(true);
  });

  it('drains an upload in flight on SIGTERM, then exits 0', async () => {
    const registry = await startOurRegistry({ root: join(dir, 'data2'), dir: join(dir, 'two') });
    const blob = randomBytes(4 * 1024 * 1024);
    const post = await fetch(`${registry.url}/v2/drain/blobs/uploads/`, { method: 'POST' });
    const location = post.headers.get('location') as string;
    const patch = openPatch(location);
    patch.req.write(blob.subarray(0, 1024 * 1024));
    await new Promise((r) => setTimeout(r, 200));
    process.kill(registry.pid, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    patch.req.end(blob.subarray(1024 * 1024));
    expect((await patch.response).status).toBe(202);
    expect(await registry.exited).toBe(0);
  });

  it('refuses a bad config naming the key, without a stack trace', async () => {
    const config = join(dir, 'bad.yml');
    await writeFile(
      config,
      'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /tmp/x\nhttp:\n  addr: 127.0.0.1:1\n  relativeurls: maybe\n',
    );
    const result = await execa(process.execPath, [REGISTRY_MAIN, 'serve', config], { reject: false });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/http\.relativeurls: .*boolean/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    const unsupported = await execa(process.execPath, [REGISTRY_MAIN, 'serve', config], {
      reject: false,
      env: {
        REGISTRY_HTTP_RELATIVEURLS: 'true',
        REGISTRY_AUTH_HTPASSWD_REALM: 'r',
        REGISTRY_AUTH_HTPASSWD_PATH: '/x',
      },
    });
    expect(unsupported.stderr).toMatch(/auth\.htpasswd\.path: cannot read \/x/);
  });

  it('serves from memory with REGISTRY_STORAGE=inmemory, writing nothing to disk', async () => {
    const port = await freePort();
    const registry = await startServer(process.execPath, [REGISTRY_MAIN, 'serve'], {
      url: `http://127.0.0.1:${port}`,
      cwd: dir,
      env: { REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`, REGISTRY_STORAGE: 'inmemory' },
    });
    const blob = randomBytes(1000);
    expect((await pushBlob(registry.url, 'mem/app', blob)).status).toBe(201);
    const pulled = Buffer.from(
      await (await fetch(`${registry.url}/v2/mem/app/blobs/${sha256(blob)}`)).arrayBuffer(),
    );
    expect(pulled.equals(blob)).toBe(true);
    expect(await readdir(dir)).not.toContain('data');
    await registry.stop();
  });

  it('serves the built-in config with REGISTRY_HTTP_ADDR and REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY', async () => {
    const port = await freePort();
    const registry = await startServer(process.execPath, [REGISTRY_MAIN, 'serve'], {
      url: `http://127.0.0.1:${port}`,
      cwd: dir,
      env: {
        REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
        REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(dir, 'data3'),
      },
    });
    const res = await fetch(`${registry.url}/v2/`);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    await registry.stop();
  });
});
