import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Server, stopAll } from '@regop/peers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushBlob, pushImage, randomBytes, sha256 } from './support/http.js';
import { startOurRegistry } from './support/registries.js';

const OCI = 'application/vnd.oci.image.manifest.v1+json';

describe('twenty concurrent pushes of one blob', () => {
  let dir: string;
  let registry: Server;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'regop-concurrent-'));
    registry = await startOurRegistry({ root: join(dir, 'data'), dir });
  });
  afterAll(async () => {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  });

  it('all succeed, to one repository and to several, and store the blob once', async () => {
    const blob = randomBytes(8 * 1024 * 1024);
    const digest = sha256(blob);
    const repos = [
      ...Array.from({ length: 10 }, () => 'same/repo'),
      ...Array.from({ length: 10 }, (_, i) => `many/repo-${i}`),
    ];
    const results = await Promise.all(repos.map((repo) => pushBlob(registry.url, repo, blob)));
    expect(results.map((r) => r.status)).toEqual(repos.map(() => 201));
    expect(new Set(results.map((r) => r.headers.get('docker-content-digest')))).toEqual(new Set([digest]));

    const v2 = join(dir, 'data/docker/registry/v2');
    const hex = digest.slice('sha256:'.length);
    expect(await readdir(join(v2, 'blobs/sha256'))).toEqual([hex.slice(0, 2)]);
    expect(await readdir(join(v2, 'blobs/sha256', hex.slice(0, 2)))).toEqual([hex]);
    expect(await readdir(join(v2, 'blobs/sha256', hex.slice(0, 2), hex))).toEqual(['data']);
    for (const repo of new Set(repos)) {
      expect(await readdir(join(v2, 'repositories', repo, '_uploads'))).toEqual([]);
      const pulled = Buffer.from(
        await (await fetch(`${registry.url}/v2/${repo}/blobs/${digest}`)).arrayBuffer(),
      );
      expect(sha256(pulled)).toBe(digest);
    }
  });
});

describe('tags and manifests written, deleted and read at once', () => {
  let dir: string;
  let registry: Server;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'regop-race-'));
    registry = await startOurRegistry({ root: join(dir, 'data'), dir, extra: { log: { level: 'warn' } } });
  });
  afterAll(async () => {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers every interleaving of tag PUT, tag and manifest DELETE and GET with a spec status, never 5xx', async () => {
    const repo = 'race/app';
    const base = `${registry.url}/v2/${repo}`;
    // Four images whose blobs stay: only manifests and tags come and go.
    const manifests: { body: string; digest: string }[] = [];
    for (let i = 0; i < 4; i++) {
      const digest = await pushImage(registry.url, repo, `seed-${i}`, [randomBytes(256)]);
      const body = await (await fetch(`${base}/manifests/${digest}`, { headers: { accept: OCI } })).text();
      manifests.push({ body, digest });
    }
    const statuses = new Map<string, number>();
    const count = (what: string, status: number) =>
      statuses.set(`${what} ${status}`, (statuses.get(`${what} ${status}`) ?? 0) + 1);
    const operations: [string, (m: { body: string; digest: string }) => Promise<Response>][] = [
      [
        'PUT tag',
        (m) =>
          fetch(`${base}/manifests/moving`, {
            method: 'PUT',
            body: m.body,
            headers: { 'content-type': OCI },
          }),
      ],
      [
        'PUT digest',
        (m) =>
          fetch(`${base}/manifests/${m.digest}`, {
            method: 'PUT',
            body: m.body,
            headers: { 'content-type': OCI },
          }),
      ],
      ['DELETE tag', () => fetch(`${base}/manifests/moving`, { method: 'DELETE' })],
      ['DELETE digest', (m) => fetch(`${base}/manifests/${m.digest}`, { method: 'DELETE' })],
      ['GET tag', () => fetch(`${base}/manifests/moving`, { headers: { accept: OCI } })],
      [
        'HEAD digest',
        (m) => fetch(`${base}/manifests/${m.digest}`, { method: 'HEAD', headers: { accept: OCI } }),
      ],
      ['GET tags', () => fetch(`${base}/tags/list`)],
    ];
    const weights = [4, 1, 1, 1, 2, 1, 1].flatMap((w, i) => Array.from({ length: w }, () => i));
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        for (let i = 0; i < 150; i++) {
          const [what, run] = operations[
            weights[Math.floor(Math.random() * weights.length)] as number
          ] as (typeof operations)[number];
          const res = await run(
            manifests[Math.floor(Math.random() * manifests.length)] as { body: string; digest: string },
          );
          await res.arrayBuffer();
          count(what, res.status);
        }
      }),
    );
    const summary = [...statuses]
      .sort()
      .map(([k, n]) => `${k}: ${n}`)
      .join(', ');
    console.log(summary);
    expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBe(3000);
    expect(
      [...statuses.keys()].filter((k) => Number(k.split(' ').at(-1)) >= 500),
      summary,
    ).toEqual([]);
    // Every status is one the spec gives for the operation.
    const allowed: Record<string, number[]> = {
      'PUT tag': [201],
      'PUT digest': [201],
      'DELETE tag': [202, 404],
      'DELETE digest': [202, 404],
      'GET tag': [200, 404],
      'HEAD digest': [200, 404],
      'GET tags': [200],
    };
    for (const [key] of statuses) {
      const [method, what, status] = key.split(' ');
      expect(allowed[`${method} ${what}`], key).toContain(Number(status));
    }
    // What is left is consistent: the tag, if any, names a manifest that is there.
    const tag = await fetch(`${base}/manifests/moving`, { headers: { accept: OCI } });
    if (tag.status === 200) {
      const digest = tag.headers.get('docker-content-digest') as string;
      expect(
        (await fetch(`${base}/manifests/${digest}`, { method: 'HEAD', headers: { accept: OCI } })).status,
      ).toBe(200);
    }
    expect(registry.output()).not.toMatch(/"level":"error"/);
  }, 300_000);
});
