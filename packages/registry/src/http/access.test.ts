import { createHash } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Access, type AccessController, HtpasswdAccessController } from '@regop/auth';
import { InMemoryDriver } from '@regop/storage';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { Registry } from '../content/registry.js';
import { registryApi } from './plugin.js';

const digest = `sha256:${'a'.repeat(64)}`;

describe('access control', () => {
  it('asks for the access distribution asks for, per route', async () => {
    const asked: Access[][] = [];
    const recorder: AccessController = {
      authorize: async (_request, access) => {
        asked.push(access);
        return { user: 'u' };
      },
    };
    const app = Fastify();
    await app.register(registryApi, {
      registry: new Registry(new InMemoryDriver()),
      deleteEnabled: true,
      accessController: recorder,
    });
    const cases: [string, string, string[]][] = [
      ['GET', '/v2/', []],
      ['GET', '/v2/_catalog', ['registry:catalog:*']],
      ['GET', '/v2/a/b/tags/list', ['repository:a/b:pull']],
      ['HEAD', '/v2/a/manifests/latest', ['repository:a:pull']],
      ['PUT', '/v2/a/manifests/latest', ['repository:a:pull,push']],
      ['DELETE', '/v2/a/manifests/latest', ['repository:a:delete']],
      ['GET', `/v2/a/blobs/${digest}`, ['repository:a:pull']],
      ['DELETE', `/v2/a/blobs/${digest}`, ['repository:a:delete']],
      ['POST', '/v2/a/blobs/uploads/', ['repository:a:pull,push']],
      [
        'POST',
        `/v2/a/blobs/uploads/?mount=${digest}&from=src/repo`,
        ['repository:a:pull,push', 'repository:src/repo:pull'],
      ],
      ['PATCH', '/v2/a/blobs/uploads/00000000-0000-4000-8000-000000000000', ['repository:a:pull,push']],
      ['GET', `/v2/a/referrers/${digest}`, ['repository:a:pull']],
    ];
    for (const [method, url, expected] of cases) {
      asked.length = 0;
      await app.inject({
        method: method as 'GET',
        url,
        payload: method === 'PUT' || method === 'PATCH' ? '{}' : undefined,
        headers: { 'content-type': 'application/octet-stream' },
      });
      expect(
        asked.map((list) => list.map((a) => `${a.type}:${a.name}:${a.actions.join(',')}`)),
        `${method} ${url}`,
      ).toEqual([expected]);
    }
  });

  it('answers 401 with the challenge and the refused access, and writes nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'regop-access-'));
    await writeFile(
      join(dir, 'htpasswd'),
      `alice:{SHA}${createHash('sha1').update('pw').digest('base64')}\n`,
    );
    const controller = new HtpasswdAccessController({ realm: 'Registry Realm', path: join(dir, 'htpasswd') });
    await controller.load();
    const driver = new InMemoryDriver();
    const app = Fastify();
    await app.register(registryApi, { registry: new Registry(driver), accessController: controller });
    const res = await app.inject({ method: 'POST', url: '/v2/team/app/blobs/uploads/' });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Basic realm="Registry Realm"');
    expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0');
    expect(res.json()).toEqual({
      errors: [
        {
          code: 'UNAUTHORIZED',
          message: 'authentication required',
          detail: [
            { Type: 'repository', Class: '', Name: 'team/app', Action: 'pull' },
            { Type: 'repository', Class: '', Name: 'team/app', Action: 'push' },
          ],
        },
      ],
    });
    const wrong = await app.inject({
      method: 'POST',
      url: '/v2/team/app/blobs/uploads/',
      headers: { authorization: `Basic ${Buffer.from('alice:nope').toString('base64')}` },
    });
    expect(wrong.statusCode).toBe(401);
    expect(await driver.list('/')).toEqual([]);
    const ok = await app.inject({
      method: 'POST',
      url: '/v2/team/app/blobs/uploads/',
      headers: { authorization: `Basic ${Buffer.from('alice:pw').toString('base64')}` },
    });
    expect(ok.statusCode).toBe(202);
  });
});
