import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushBlob, randomBytes, sha256 } from './support/http.js';
import { type Server, stopAll } from './support/process.js';
import { startOurRegistry } from './support/registries.js';

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
