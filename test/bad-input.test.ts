import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest, sha256 } from './support/http.js';
import { type Server, stopAll } from './support/process.js';
import { startOurRegistry } from './support/registries.js';

/** Requests sent byte for byte (no client normalises the `..` away). */
const request = (method: string, path: string, extra = '', body = '') =>
  `${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${body.length}\r\n${extra}\r\n${body}`;

describe('bad input over the wire', () => {
  let dir: string;
  let registry: Server;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'regop-bad-'));
    registry = await startOurRegistry({ root: join(dir, 'data'), dir });
  });
  afterAll(async () => {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  });

  const traversal: [string, string, number[]][] = [
    ['GET', '/v2/../../etc/passwd/tags/list', [400]],
    ['GET', '/v2/a/../../b/tags/list', [400]],
    ['POST', '/v2/a/./b/blobs/uploads/', [400]],
    ['POST', '/v2/%2e%2e/blobs/uploads/', [400]],
    ['POST', '/v2//a/blobs/uploads/', [400]],
    ['PUT', '/v2/a/manifests/..', [400]],
    ['PUT', '/v2/a/manifests/%2e%2e%2fescape', [400]],
    ['GET', '/v2/a/blobs/sha256:..%2f..%2f..%2fetc', [400]],
    ['GET', `/v2/a/blobs/sha256:${'0'.repeat(63)}/`, [400, 404]],
    ['PATCH', '/v2/a/blobs/uploads/..', [404]],
    ['PATCH', '/v2/a/blobs/uploads/..%2F..%2F..%2Fescape', [404]],
    ['PUT', `/v2/a/blobs/uploads/../../../../escape?digest=${sha256('x')}`, [400, 404]],
    ['DELETE', '/v2/a/blobs/uploads/%2e%2e', [404]],
  ];
  it.each(traversal)('%s %s is refused with a spec error', async (method, path, statuses) => {
    const { status, response } = await rawRequest(
      registry.url,
      request(method, path, 'Content-Type: application/octet-stream\r\n', 'x'),
    );
    expect(statuses, response).toContain(status);
    expect(response).toMatch(
      /"code":"(NAME_INVALID|TAG_INVALID|DIGEST_INVALID|BLOB_UPLOAD_UNKNOWN|UNSUPPORTED)"/,
    );
  });

  it('answers huge headers and garbage without crashing', async () => {
    // Past distribution's 1 MiB of headers.
    const huge = await rawRequest(
      registry.url,
      request('GET', '/v2/', `X-Big: ${'a'.repeat(2 * 1024 * 1024)}\r\n`),
    );
    // Refused with 431, or cut off while the client was still sending it.
    if (!(huge.reset && huge.status === 0)) expect(huge.status).toBe(431);
    const garbage = await rawRequest(registry.url, 'NOT HTTP AT ALL\r\n\r\n');
    expect(garbage.status).toBe(400);
    const longName = await rawRequest(registry.url, request('GET', `/v2/${'a/'.repeat(3000)}a/tags/list`));
    expect(longName.status).toBe(400);
    const badAuth = await rawRequest(registry.url, request('GET', '/v2/', 'Authorization: Basic ::::\r\n'));
    expect(badAuth.status).toBe(200);
    expect((await fetch(`${registry.url}/v2/`)).status).toBe(200);
  });

  it('wrote nothing outside its root, and no 500 was ever logged', async () => {
    for (const entry of await readdir(dir)) expect(['data', 'ours.yml']).toContain(entry);
    expect(registry.output()).not.toMatch(/"status":5\d\d/);
  });
});
