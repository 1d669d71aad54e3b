import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer as createHttp, type RequestListener, type Server } from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCertificateAuthority, issueCertificate } from '@regop/auth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CheckOptions, checkRegistry, Status } from './check.js';

const API = { 'docker-distribution-api-version': 'registry/2.0' };
const servers: Server[] = [];
async function serve(handler: RequestListener, tls?: { cert: string; key: string }): Promise<number> {
  const server = tls ? createHttps(tls, handler) : createHttp(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}
const options = (port: number, extra: Partial<CheckOptions> = {}): CheckOptions => ({
  host: '127.0.0.1',
  port,
  ssl: false,
  insecure: false,
  warning: 1,
  critical: 5,
  certWarning: 30,
  certCritical: 7,
  timeoutMs: 2000,
  ...extra,
});

describe('check_registry', () => {
  const ca = createCertificateAuthority({ commonName: 'Check CA' });
  const cert = issueCertificate(ca, { commonName: '127.0.0.1', altNames: ['127.0.0.1'], days: 90 });
  let ok: number;
  afterAll(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));
  beforeAll(async () => {
    ok = await serve((_req, res) => res.writeHead(200, API).end('{}'));
  });

  it('is OK for a 200 with the API version header, with response time as performance data', async () => {
    const result = await checkRegistry(options(ok));
    expect(result.code).toBe(Status.OK);
    expect(result.line).toMatch(
      /^REGISTRY OK - http:\/\/127\.0\.0\.1:\d+\/v2\/ answered 200 in [\d.]+ s \| time=[\d.]+s;1;5;0$/,
    );
  });

  it('is OK for a 401 with a Basic or Bearer challenge, CRITICAL for a 401 without one', async () => {
    const basic = await serve((_q, r) =>
      r.writeHead(401, { ...API, 'www-authenticate': 'Basic realm="registry"' }).end(),
    );
    const bearer = await serve((_q, r) =>
      r
        .writeHead(401, {
          ...API,
          'www-authenticate': 'Bearer realm="https://auth/token",service="registry"',
        })
        .end(),
    );
    const bare = await serve((_q, r) => r.writeHead(401, API).end());
    expect((await checkRegistry(options(basic))).line).toContain('answered 401 (authentication required)');
    expect((await checkRegistry(options(bearer))).code).toBe(Status.OK);
    const bad = await checkRegistry(options(bare));
    expect(bad).toEqual({
      code: Status.CRITICAL,
      line: expect.stringContaining('without a valid WWW-Authenticate'),
    });
  });

  it('is CRITICAL for another server, an error status, a refused connection and a timeout', async () => {
    const web = await serve((_q, r) => r.writeHead(200).end('hello'));
    const failing = await serve((_q, r) => r.writeHead(503, API).end());
    const silent = await serve(() => {});
    const refused = await serve(() => {});
    await new Promise((r) => servers.pop()?.close(r));
    expect((await checkRegistry(options(web))).line).toContain('not a registry');
    expect((await checkRegistry(options(failing))).line).toContain('answered 503');
    const down = await checkRegistry(options(refused));
    expect(down).toEqual({ code: Status.CRITICAL, line: expect.stringContaining('ECONNREFUSED') });
    const slow = await checkRegistry(options(silent, { timeoutMs: 300 }));
    expect(slow).toEqual({ code: Status.CRITICAL, line: expect.stringContaining('no answer within 0.3 s') });
  });

  it('warns and goes critical on response time', async () => {
    const lagging = await serve((_q, r) => setTimeout(() => r.writeHead(200, API).end(), 150));
    expect((await checkRegistry(options(lagging, { warning: 0.1, critical: 5 }))).code).toBe(Status.WARNING);
    const critical = await checkRegistry(options(lagging, { warning: 0.05, critical: 0.1 }));
    expect(critical.code).toBe(Status.CRITICAL);
    expect(critical.line).toMatch(/answered in [\d.]+ s \(critical 0.1 s\)/);
  });

  it('verifies HTTPS against the CA and counts the certificate days left', async () => {
    const secure = await serve((_q, r) => r.writeHead(200, API).end(), {
      cert: cert.certPem,
      key: cert.keyPem,
    });
    const good = await checkRegistry(options(secure, { ssl: true, ca: ca.certPem }));
    expect(good.code).toBe(Status.OK);
    expect(good.line).toMatch(/certificate valid (89|90) more days .*cert_days=(89|90);30;7$/);
    const untrusted = await checkRegistry(options(secure, { ssl: true }));
    expect(untrusted.code).toBe(Status.CRITICAL);
    expect(untrusted.line).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|unable to verify/i);
    const soon = new Date(Date.now() + 70 * 86_400_000);
    expect(
      await checkRegistry(options(secure, { ssl: true, ca: ca.certPem }), soon).then((r) => r.code),
    ).toBe(Status.WARNING);
    const sooner = new Date(Date.now() + 85 * 86_400_000);
    const expiring = await checkRegistry(options(secure, { ssl: true, ca: ca.certPem }), sooner);
    expect(expiring.code).toBe(Status.CRITICAL);
    expect(expiring.line).toContain('certificate expires in');
  });

  it('reports the storage health from the debug server', async () => {
    const healthy = await serve((_q, r) => r.writeHead(200).end('{}'));
    const sick = await serve((_q, r) => r.writeHead(503).end('{"storagedriver_filesystem":"disk gone"}'));
    const up = (port: number) => options(ok, { healthUrl: `http://127.0.0.1:${port}/debug/health` });
    expect((await checkRegistry(up(healthy))).code).toBe(Status.OK);
    const result = await checkRegistry(up(sick));
    expect(result.code).toBe(Status.CRITICAL);
    expect(result.line).toContain('storage unhealthy');
    expect(result.line).toContain('disk gone');
  });

  it('exits as Nagios expects, UNKNOWN for usage errors', async () => {
    const main = join(import.meta.dirname, '../dist/main.js');
    const run = (...args: string[]) =>
      new Promise<{ code: number; out: string }>((resolve) =>
        execFile(process.execPath, [main, ...args], (err, out) =>
          resolve({ code: (err as { code?: number } | null)?.code ?? 0, out }),
        ),
      );
    const okRun = await run('-H', '127.0.0.1', '-p', String(ok));
    expect(okRun.code).toBe(0);
    expect(okRun.out.trim().split('\n')).toHaveLength(1);
    expect((await run('-p', '1')).out).toContain('REGISTRY UNKNOWN - -H HOST is required');
    const bogus = await run('--bogus');
    expect(bogus.code).toBe(3);
    expect(bogus.out).toMatch(/Unknown option '--bogus'/);
    const dir = await mkdtemp(join(tmpdir(), 'check-'));
    await writeFile(join(dir, 'ca.crt'), ca.certPem);
    expect((await run('-H', '127.0.0.1', '-p', String(ok), '--ca-file', join(dir, 'missing'))).code).toBe(3);
  });
});
