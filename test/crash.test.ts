import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopAll } from '@regop/peers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPatch, randomBytes, sha256 } from './support/http.js';
import { startOurRegistry } from './support/registries.js';

describe('a kill -9 in the middle of an upload', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'regop-crash-'));
  });
  afterAll(async () => {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  });

  it('leaves no visible blob, and the upload resumes and completes after restart', async () => {
    const root = join(dir, 'data');
    const blob = randomBytes(24 * 1024 * 1024);
    const digest = sha256(blob);
    let registry = await startOurRegistry({ root, dir });

    const post = await fetch(`${registry.url}/v2/crash/blobs/uploads/`, { method: 'POST' });
    const uploadPath = new URL(post.headers.get('location') as string).pathname;
    const patch = openPatch(`${registry.url}${uploadPath}`);
    patch.response.catch(() => {});
    patch.req.on('error', () => {});
    patch.req.write(blob.subarray(0, 10 * 1024 * 1024));
    // Wait until the server has stored part of the chunk, then crash it.
    for (let size = 0; size === 0; ) {
      await new Promise((r) => setTimeout(r, 50));
      const range = (await fetch(`${registry.url}${uploadPath}`)).headers.get('range') ?? '0-0';
      size = Number(range.split('-')[1]);
    }
    await registry.kill9();
    patch.req.destroy();

    registry = await startOurRegistry({ root, dir });
    expect((await fetch(`${registry.url}/v2/crash/blobs/${digest}`, { method: 'HEAD' })).status).toBe(404);
    expect(await readdir(join(root, 'docker/registry/v2')).then((d) => d.includes('blobs'))).toBe(false);

    // The client asks where the upload stands and sends the rest from there.
    const status = await fetch(`${registry.url}${uploadPath}`);
    expect(status.status).toBe(204);
    const offset = Number((status.headers.get('range') as string).split('-')[1]) + 1;
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThanOrEqual(10 * 1024 * 1024);
    const rest = await fetch(`${registry.url}${uploadPath}`, {
      method: 'PATCH',
      body: blob.subarray(offset),
      headers: {
        'content-type': 'application/octet-stream',
        'content-range': `${offset}-${blob.length - 1}`,
      },
    });
    expect(rest.status).toBe(202);
    const put = await fetch(`${registry.url}${uploadPath}?digest=${digest}`, { method: 'PUT' });
    expect(put.status).toBe(201);
    const pulled = Buffer.from(await (await fetch(`${registry.url}/v2/crash/blobs/${digest}`)).arrayBuffer());
    expect(sha256(pulled)).toBe(digest);
    expect(await readdir(join(root, 'docker/registry/v2/repositories/crash/_uploads'))).toEqual([]);
  });
});
