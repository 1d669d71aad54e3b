import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticate } from './auth.js';
import { parseSwiftOptions } from './options.js';

// Keystone is not among the machine's packages: this server answers as Keystone's v2.0 and v3 token APIs do,
// so what is checked is what the driver sends and how it reads the catalog.
const catalog = [
  { type: 'identity', endpoints: [{ interface: 'public', region: 'r1', url: 'http://identity' }] },
  {
    type: 'object-store',
    endpoints: [
      { interface: 'internal', region: 'r1', url: 'http://swift-r1-internal/v1/AUTH_p' },
      { interface: 'public', region: 'r1', url: 'http://swift-r1/v1/AUTH_p' },
      { interface: 'public', region: 'r2', url: 'http://swift-r2/v1/AUTH_p' },
    ],
  },
];

describe('Keystone authentication', () => {
  let server: Server;
  let url: string;
  const requests: { path: string; body: unknown }[] = [];
  const agent = new Agent();
  const read = async (req: IncomingMessage) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    return JSON.parse(text) as { auth: { identity?: { password: { user: { password: string } } } } };
  };

  beforeAll(async () => {
    server = createServer(async (req, res) => {
      const body = await read(req);
      requests.push({ path: req.url ?? '', body });
      const password =
        body.auth.identity?.password.user.password ??
        (body.auth as { passwordCredentials?: { password: string } }).passwordCredentials?.password;
      if (password !== 'secret') return void res.writeHead(401).end('{}');
      if (req.url === '/v3/auth/tokens') {
        res.writeHead(201, { 'x-subject-token': 'v3-token', 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ token: { expires_at: '2099-01-01T00:00:00Z', catalog } }));
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          access: {
            token: { id: 'v2-token' },
            serviceCatalog: [
              {
                type: 'object-store',
                endpoints: [
                  {
                    region: 'r1',
                    publicURL: 'http://swift-v2/v1/AUTH_p',
                    internalURL: 'http://swift-v2-internal/v1/AUTH_p',
                  },
                ],
              },
            ],
          },
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await agent.close();
    await new Promise((resolve) => server.close(resolve));
  });

  const options = (over: Record<string, unknown>) =>
    parseSwiftOptions({
      authurl: `${url}/v3`,
      username: 'alice',
      password: 'secret',
      container: 'c',
      ...over,
    });

  it('v3: scopes to the project in its domain and picks the endpoint by region and interface', async () => {
    const auth = await authenticate(options({ tenant: 'proj', domain: 'dom', region: 'r2' }), agent);
    expect(auth).toEqual({ token: 'v3-token', storageUrl: 'http://swift-r2/v1/AUTH_p' });
    expect(requests.at(-1)).toEqual({
      path: '/v3/auth/tokens',
      body: {
        auth: {
          identity: {
            methods: ['password'],
            password: { user: { name: 'alice', password: 'secret', domain: { name: 'dom' } } },
          },
          scope: { project: { name: 'proj', domain: { name: 'dom' } } },
        },
      },
    });
    const internal = await authenticate(options({ tenantid: 'p-id', endpointtype: 'internal' }), agent);
    expect(internal.storageUrl).toBe('http://swift-r1-internal/v1/AUTH_p');
    expect(requests.at(-1)?.body).toMatchObject({ auth: { scope: { project: { id: 'p-id' } } } });
    await authenticate(options({ trustid: 't-1' }), agent);
    expect(requests.at(-1)?.body).toMatchObject({ auth: { scope: { 'OS-TRUST:trust': { id: 't-1' } } } });
  });

  it('v2.0: tenant by name, the endpoint type chosen', async () => {
    const auth = await authenticate(
      options({ authurl: `${url}/v2.0`, tenant: 'proj', endpointtype: 'internal' }),
      agent,
    );
    expect(auth).toEqual({ token: 'v2-token', storageUrl: 'http://swift-v2-internal/v1/AUTH_p' });
    expect(requests.at(-1)).toMatchObject({ path: '/v2.0/tokens', body: { auth: { tenantName: 'proj' } } });
  });

  it('names the key to fix when it fails', async () => {
    await expect(authenticate(options({ password: 'wrong' }), agent)).rejects.toThrow(
      /storage\.swift\.username\/password: .* refused the credentials of alice \(HTTP 401\)/,
    );
    await expect(authenticate(options({ region: 'nowhere' }), agent)).rejects.toThrow(
      /storage\.swift\.region: the catalog has no public object-store endpoint in region nowhere/,
    );
    await expect(authenticate(options({ authurl: 'http://127.0.0.1:1/v3' }), agent)).rejects.toThrow(
      /storage\.swift\.authurl: cannot reach http:\/\/127\.0\.0\.1:1\/v3/,
    );
  });
});
