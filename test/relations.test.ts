import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCertificateAuthority, issueCertificate } from '@regop/auth';
import { processAlive } from '@regop/ops';
import { SWIFT_BINARIES, type Swift, startSwift, stopAll } from '@regop/peers';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse } from 'yaml';
import { randomBytes, sha256 } from './support/http.js';
import { addLayer, makeOciImage, ociManifestDigest, skopeo } from './support/images.js';
import { newModel, showUnit } from './support/model.js';
import { describeWithPeers } from './support/peers.js';

const CHECK_NRPE = '/usr/lib/nagios/plugins/check_nrpe';
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** GET over HTTPS trusting `ca`, on a connection of its own (through haproxy in mode tcp a kept-alive
 * connection stays with the server it was opened to): the status code. */
const httpsStatus = (url: string, ca: string) =>
  new Promise<number>((resolve, reject) => {
    request(url, { ca, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    })
      .on('error', reject)
      .end();
  });

/** Retries `attempt` until it resolves true, for at most `ms`; false when it never did. */
async function eventually(attempt: () => Promise<boolean>, ms = 45_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await attempt().catch(() => false)) return true;
    await sleep(250);
  }
  return false;
}

const CHECK =
  'check inter 1000 fastinter 500 downinter 1000 rise 2 fall 2 observe layer4 error-limit 2 on-error mark-down maxconn 4096';

/**
 * A chunked push of one blob (POST, three PATCHes, PUT with the digest), each request on the connection the
 * client keeps: the status of the first request that failed, or of the PUT.
 */
async function chunkedPush(base: string, repo: string, blob: Buffer): Promise<string> {
  const post = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  if (post.status !== 202) return `POST ${post.status}`;
  let location = new URL(post.headers.get('location') as string, base);
  const third = Math.ceil(blob.length / 3);
  for (let offset = 0; offset < blob.length; offset += third) {
    const chunk = blob.subarray(offset, offset + third);
    const res = await fetch(location, {
      method: 'PATCH',
      body: chunk,
      headers: {
        'content-type': 'application/octet-stream',
        'content-range': `${offset}-${offset + chunk.length - 1}`,
      },
    });
    if (res.status !== 202) return `PATCH ${res.status}`;
    location = new URL(res.headers.get('location') as string, base);
  }
  location.searchParams.set('digest', sha256(blob));
  const put = await fetch(location, { method: 'PUT' });
  return `PUT ${put.status}`;
}

/** The `server` lines of one backend section of a rendered haproxy.cfg. */
const backendServers = (cfg: string, backend: string) =>
  (cfg.split(/\n(?=\S)/).find((section) => section.startsWith(`backend ${backend}\n`)) ?? '')
    .split('\n')
    .filter((l) => l.trim().startsWith('server '))
    .map((l) => l.trim());

/** haproxy's view of a backend's servers (`show stat` on the stats socket): name -> UP, DOWN, ... */
const serverStates = (socket: string, backend: string) =>
  new Promise<Record<string, string>>((resolve, reject) => {
    let text = '';
    const conn = createConnection(socket, () => conn.end('show stat\n'));
    conn.on('data', (d) => {
      text += d;
    });
    conn.on('error', reject);
    conn.on('end', () => {
      const rows = text.split('\n').map((l) => l.split(','));
      const status = rows[0]?.indexOf('status') ?? -1;
      resolve(
        Object.fromEntries(
          rows
            .filter((r) => r[0] === backend && !['FRONTEND', 'BACKEND'].includes(r[1] ?? ''))
            .map((r) => [r[1], r[status]]),
        ),
      );
    });
  });

// Issue 10: the charm among other applications, through the local model, with real haproxy, nrpe and
// check_nrpe, skopeo as the client, and two units sharing one Swift container.
describeWithPeers(
  ['skopeo', 'umoci', 'haproxy', 'nrpe', CHECK_NRPE, ...SWIFT_BINARIES],
  'docker-registry among other applications',
  () => {
    let swift: Swift;
    let m: Awaited<ReturnType<typeof newModel>>;
    let layout: string;
    let addresses: string[];
    let proxy: string;
    const model = async (...args: string[]) => {
      const result = await m.model(...args);
      expect(result.exitCode, `model ${args.join(' ')}: ${result.stderr}`).toBe(0);
      return result;
    };
    const unitLog = (n: number) =>
      readFile(join(m.dir, `units/docker-registry-${n}/var/log/regop/registry.log`), 'utf8');
    /**
     * check_nrpe on a unit, asked again while nrpe itself refuses the connection: a reload (SIGHUP, sent when
     * the principal touches the relation's timestamp) closes and reopens its socket, and the nrpe charm, like
     * `systemctl reload`, does not wait for that. What is checked is the registry's answer through nrpe.
     */
    const checkNrpe = async (unit: number) => {
      for (let attempt = 1; ; attempt++) {
        const run = await execa(CHECK_NRPE, ['-H', addresses[unit] as string, '-c', 'docker_registry'], {
          reject: false,
        });
        if (run.stdout !== '' || !/Connection refused/.test(run.stderr) || attempt === 40) return run;
        await sleep(250);
      }
    };

    /** The --config arguments of applications sharing the one Swift container. */
    const sharedSwift = () =>
      [
        `storage-swift-authurl=${swift.authUrl}`,
        `storage-swift-username=${swift.user}`,
        `storage-swift-password=${swift.key}`,
        'storage-swift-container=ha-registry',
      ].flatMap((c) => ['--config', c]);

    beforeAll(async () => {
      swift = await startSwift();
      m = await newModel();
      layout = await makeOciImage(m.dir, 'v1', [512 * 1024, 4096]);
      await model('deploy', 'docker-registry', '-n', '2', ...sharedSwift());
      await model('deploy', 'haproxy');
      await model('relate', 'docker-registry:website', 'haproxy:reverseproxy');
      addresses = [
        (await m.unit('docker-registry/0'))['public-address'],
        (await m.unit('docker-registry/1'))['public-address'],
      ];
      proxy = `${(await m.unit('haproxy/0'))['public-address']}:5000`;
    }, 300_000);
    afterAll(async () => {
      await m?.destroy();
      await swift?.stop();
      await stopAll();
      await rm(m?.dir ?? '', { recursive: true, force: true });
    });

    it("only the leader speaks on website: haproxy -c accepts the rendering, whose backend is the leader's pair", async () => {
      const leader = await showUnit(m, 'docker-registry/0');
      expect(leader.leader).toBe(true);
      const website = leader['relation-info'].find((r) => r.endpoint === 'website');
      expect(website?.['related-endpoint']).toBe('reverseproxy');
      const [service] = parse(website?.['local-unit'].data.services as string);
      expect(service.servers).toEqual([
        ['docker-registry-0', addresses[0], 5000, CHECK],
        ['docker-registry-1', addresses[1], 5000, `${CHECK} backup`],
      ]);
      // The follower sends nothing haproxy would make a server of (port and private-address).
      const follower = await showUnit(m, 'docker-registry/1');
      const data = follower['relation-info'].find((r) => r.endpoint === 'website')?.['local-unit'].data ?? {};
      for (const key of ['hostname', 'port', 'private-address', 'services'])
        expect(data[key]).toBeUndefined();
      expect((await m.unit('docker-registry/1'))['workload-status'].message).toBe(
        `Ready at ${addresses[1]}:5000 (http, proxied).`,
      );
      const file = join(m.dir, 'units/haproxy-0/etc/haproxy/haproxy.cfg');
      const cfg = await readFile(file, 'utf8');
      expect(backendServers(cfg, 'docker-registry')).toEqual([
        `server docker-registry-0 ${addresses[0]}:5000 ${CHECK}`,
        `server docker-registry-1 ${addresses[1]}:5000 ${CHECK} backup`,
      ]);
      const checked = await execa('haproxy', ['-c', '-f', file], { reject: false, all: true });
      expect(checked.exitCode, checked.all).toBe(0);
      expect((await m.unit('haproxy/0'))['workload-status'].current).toBe('active');
    });

    it('fails over: 20 chunked pushes through haproxy all succeed while the primary stops midway', async () => {
      const ha = (path: string, init?: RequestInit) => fetch(`http://${proxy}${path}`, init);
      await skopeo('copy', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${proxy}/ha/app:v1`);
      await skopeo('copy', '--src-tls-verify=false', `docker://${proxy}/ha/app:v1`, `oci:${m.dir}/pulled:v1`);
      expect(await ociManifestDigest(join(m.dir, 'pulled'), 'v1')).toBe(
        await ociManifestDigest(layout, 'v1'),
      );

      // Four clients push 20 blobs between them; the primary is stopped once six are in.
      const blobs = Array.from({ length: 20 }, () => randomBytes(768 * 1024));
      const results: string[] = [];
      let next = 0;
      let stopped: Promise<number> | undefined;
      const socket = join(m.dir, 'units/haproxy-0/run/haproxy/admin.sock');
      const pid = Number(
        await readFile(join(m.dir, 'units/docker-registry-0/run/regop/registry.pid'), 'utf8'),
      );
      /** From the primary's process exiting to haproxy marking it down (negative: marked down before). */
      const markedDown = async () => {
        let exited: number | undefined;
        let down: number | undefined;
        while (exited === undefined || down === undefined) {
          if (exited === undefined && !(await processAlive(pid))) exited = Date.now();
          if (
            down === undefined &&
            (await serverStates(socket, 'docker-registry'))['docker-registry-0'] === 'DOWN'
          )
            down = Date.now();
          await sleep(50);
        }
        return down - exited;
      };
      const client = async () => {
        for (let i = next++; i < blobs.length; i = next++) {
          results[i] = await chunkedPush(`http://${proxy}`, `ha/chunked${i}`, blobs[i] as Buffer);
          if (results.filter(Boolean).length === 6 && !stopped) {
            const watching = markedDown();
            stopped = m.run('docker-registry/0', 'stop').then(() => watching);
          }
        }
      };
      await Promise.all([client(), client(), client(), client()]);
      expect(results).toEqual(blobs.map(() => 'PUT 201'));
      expect(await stopped).toBeLessThan(2000);
      for (const [i, blob] of blobs.entries()) {
        const head = await ha(`/v2/ha/chunked${i}/blobs/${sha256(blob)}`, { method: 'HEAD' });
        expect(head.status).toBe(200);
        expect(head.headers.get('content-length')).toBe(String(blob.length));
      }
      expect(await eventually(async () => (await unitLog(1)).includes('/v2/ha/chunked'))).toBe(true);
      // Pulls and pushes go on through the backup.
      await skopeo('copy', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${proxy}/ha/after:v1`);
      await skopeo(
        'copy',
        '--src-tls-verify=false',
        `docker://${proxy}/ha/app:v1`,
        `oci:${m.dir}/pulled:again`,
      );

      expect((await m.run('docker-registry/0', 'start')).status).toBe('completed');
      let probe = 0;
      expect(
        await eventually(async () => {
          const path = `/v2/probe/n${++probe}/tags/list`;
          await ha(path);
          await sleep(200);
          return (await unitLog(0)).includes(path);
        }),
      ).toBe(true);
    });

    it('with each unit on its own filesystem, every push through haproxy lands on one unit and is found there', async () => {
      await model('deploy', 'docker-registry', 'local', '-n', '2', '--config', 'registry-port=5002');
      await model('relate', 'local:website', 'haproxy:reverseproxy');
      const local = [
        (await m.unit('local/0'))['public-address'],
        (await m.unit('local/1'))['public-address'],
      ];
      const cfg = await readFile(join(m.dir, 'units/haproxy-0/etc/haproxy/haproxy.cfg'), 'utf8');
      expect(backendServers(cfg, 'local')).toEqual([
        `server local-0 ${local[0]}:5002 ${CHECK}`,
        `server local-1 ${local[1]}:5002 ${CHECK} backup`,
      ]);
      const base = `http://${proxy.split(':')[0]}:5002`;
      const blobs = Array.from({ length: 20 }, () => randomBytes(256 * 1024));
      const results = await Promise.all(blobs.map((blob, i) => chunkedPush(base, `local/app${i}`, blob)));
      expect(results).toEqual(blobs.map(() => 'PUT 201'));
      for (const [i, blob] of blobs.entries())
        expect(
          (await fetch(`${base}/v2/local/app${i}/blobs/${sha256(blob)}`, { method: 'HEAD' })).status,
        ).toBe(200);
      await model('unrelate', 'local:website', 'haproxy:reverseproxy');
    });

    it('a read-only public application on the same container never serves a stale tag, and takes no push', async () => {
      // The private application takes pushes with basic auth; the public one serves anyone, read-only.
      await model('config', 'docker-registry', 'auth-basic-user=mirror', 'auth-basic-password=mirror-pass');
      const creds = '--dest-creds=mirror:mirror-pass';
      await model(
        'deploy',
        'docker-registry',
        'public',
        ...sharedSwift(),
        '--config',
        'storage-read-only=true',
        '--config',
        'storage-cache=inmemory',
      );
      const publicHost = `${(await m.unit('public/0'))['public-address']}:5000`;
      expect((await m.unit('public/0'))['workload-status'].message).toBe(
        `Ready at ${publicHost} (http, read-only).`,
      );
      const digestOn = async (host: string) => {
        const res = await fetch(`http://${host}/v2/mirror/app/manifests/v1`, {
          method: 'HEAD',
          headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
        });
        return res.status === 200 ? res.headers.get('docker-content-digest') : res.status;
      };
      /** How long until the public application answers `expected`, polled every 50 ms (at most 5 s). */
      const seenWithin = async (expected: string | number) => {
        const started = Date.now();
        while (Date.now() - started < 5000 && (await digestOn(publicHost)) !== expected) await sleep(50);
        return Date.now() - started;
      };
      expect((await fetch(`http://${proxy}/v2/mirror/app/tags/list`)).status).toBe(401);
      await skopeo(
        'copy',
        '--dest-tls-verify=false',
        creds,
        `oci:${layout}:v1`,
        `docker://${proxy}/mirror/app:v1`,
      );
      const first = await ociManifestDigest(layout, 'v1');
      expect(await seenWithin(first)).toBeLessThan(1000);
      const pulled = join(m.dir, 'public-pull');
      await skopeo(
        'copy',
        '--src-tls-verify=false',
        `docker://${publicHost}/mirror/app:v1`,
        `oci:${pulled}:v1`,
      );
      expect(await ociManifestDigest(pulled, 'v1')).toBe(first);

      const refused = await skopeo(
        'copy',
        '--dest-tls-verify=false',
        `oci:${layout}:v1`,
        `docker://${publicHost}/mirror/pushed:v1`,
      ).catch((err: Error) => err);
      expect(String(refused)).toMatch(/405|read-only|unsupported/i);
      expect(
        (
          await fetch(`http://${proxy}/v2/mirror/pushed/tags/list`, {
            headers: { authorization: `Basic ${Buffer.from('mirror:mirror-pass').toString('base64')}` },
          })
        ).status,
      ).toBe(404);

      // The tag moved on the private application, then deleted: the public one follows within a second.
      await addLayer(layout, 'v1', 'moved', 2048);
      await skopeo(
        'copy',
        '--dest-tls-verify=false',
        creds,
        `oci:${layout}:moved`,
        `docker://${proxy}/mirror/app:v1`,
      );
      const moved = await ociManifestDigest(layout, 'moved');
      expect(await seenWithin(moved)).toBeLessThan(1000);
      const removed = await m.run('docker-registry/0', 'rmi', 'image=mirror/app:v1', 'options=--no-prune');
      expect(removed.status, removed.message).toBe('completed');
      expect(await seenWithin(404)).toBeLessThan(1000);
      await model('config', 'docker-registry', '--reset', 'auth-basic-user,auth-basic-password');
    });

    it('the public mirror with ui-enabled shows what it holds through haproxy, its links naming the proxy', async () => {
      await skopeo(
        'copy',
        '--dest-tls-verify=false',
        `oci:${layout}:v1`,
        `docker://${proxy}/mirror/browse:v1`,
      );
      await model('config', 'public', 'ui-enabled=true', 'ui-title=Public mirror', 'registry-port=5080');
      await model('relate', 'public:website', 'haproxy:reverseproxy');
      const front = `${proxy.split(':')[0]}:5080`;
      const publicAddress = (await m.unit('public/0'))['public-address'];
      expect((await m.unit('public/0'))['workload-status'].message).toBe(
        `Ready at ${publicAddress}:5080 (http, proxied, read-only). UI at http://${front}/ui.`,
      );
      let page: Response | undefined;
      for (let i = 0; i < 40 && page?.status !== 200; i++) {
        page = await fetch(`http://${front}/ui/repositories/mirror/browse`).catch(() => undefined);
        if (page?.status !== 200) await sleep(250);
      }
      expect(page?.status).toBe(200);
      const html = await (page as Response).text();
      expect(html).toContain('<a class="title" href="/ui">Public mirror</a>');
      expect(html).toContain('href="/ui/repositories/mirror/browse/_manifests/v1"');
      // The pull commands name the host the browser used: the proxy's frontend.
      expect(html).toContain(`skopeo copy --src-tls-verify=false docker://${front}/mirror/browse:v1`);
      expect(html).toContain('read-only');
      const browser = await fetch(`http://${front}/`, {
        headers: { accept: 'text/html' },
        redirect: 'manual',
      });
      expect([browser.status, browser.headers.get('location')]).toEqual([302, '/ui']);
      // haproxy's own check (GET / without Accept: text/html) still finds the unit up.
      expect((await m.unit('haproxy/0'))['workload-status'].current).toBe('active');
      await model('unrelate', 'public:website', 'haproxy:reverseproxy');
      await model('config', 'public', '--reset', 'ui-enabled,ui-title,registry-port');
    });

    it('serves HTTPS from easyrsa certificates, through haproxy too, and configures a registry client', async () => {
      await model('deploy', 'easyrsa');
      await model('relate', 'docker-registry:cert-provider', 'easyrsa:client');
      await model('deploy', 'registry-client');
      await model('relate', 'docker-registry', 'registry-client');
      await model('config', 'docker-registry', 'auth-basic-user=alice', 'auth-basic-password=first-pass');
      for (const [n, address] of addresses.entries())
        expect((await m.unit(`docker-registry/${n}`))['workload-status']).toEqual({
          current: 'active',
          message: `Ready at ${address}:5000 (https, proxied).`,
        });
      // haproxy passes TLS through and checks the units over TLS with what its own machine has.
      const cfg = await readFile(join(m.dir, 'units/haproxy-0/etc/haproxy/haproxy.cfg'), 'utf8');
      expect(backendServers(cfg, 'docker-registry')).toEqual([
        `server docker-registry-0 ${addresses[0]}:5000 ${CHECK} check-ssl verify none`,
        `server docker-registry-1 ${addresses[1]}:5000 ${CHECK} backup check-ssl verify none`,
      ]);
      expect((await m.unit('haproxy/0'))['workload-status'].current).toBe('active');
      // easyrsa's CA is in its relation data; the client got it too.
      const easyrsa = await showUnit(m, 'easyrsa/0');
      const ca = easyrsa['relation-info'][0]?.['local-unit'].data.ca as string;
      expect(ca).toContain('BEGIN CERTIFICATE');
      const certs = join(m.dir, 'client-certs');
      await writeFile(join(m.dir, 'ca.pem'), ca);
      await execa('mkdir', ['-p', certs]);
      await writeFile(join(certs, 'ca.crt'), ca);
      for (const target of [`${addresses[0]}:5000`, proxy])
        await skopeo(
          'copy',
          `--dest-cert-dir=${certs}`,
          '--dest-creds=alice:first-pass',
          `oci:${layout}:v1`,
          `docker://${target}/tls/app:v1`,
        );
      // As charm-containerd: the CA into the system store, the net location as mirror and auth key.
      const client = join(m.dir, 'units/registry-client-0');
      const containerd = () => readFile(join(client, 'etc/containerd/config.toml'), 'utf8');
      expect(
        await readFile(join(client, 'usr/local/share/ca-certificates/juju-docker-registry.crt'), 'utf8'),
      ).toBe(ca);
      const cri = 'plugins."io.containerd.grpc.v1.cri".registry';
      expect(await containerd()).toContain(`[${cri}.mirrors."${proxy}"]\n      endpoint = ["${proxy}"]`);
      expect(await containerd()).toContain(
        `[${cri}.configs."${proxy}".auth]\n      username = "alice"\n      password = "first-pass"`,
      );
      expect(await containerd()).toContain(`[${cri}.configs."${proxy}".tls]`);
      const pulled = await m.run('registry-client/0', 'pull', 'image=tls/app:v1');
      expect(pulled.status, pulled.message).toBe('completed');
      expect(pulled.results.digest).toBe(await ociManifestDigest(layout, 'v1'));

      // TLS through haproxy (mode tcp) fails over as well.
      expect((await m.run('docker-registry/0', 'stop')).status).toBe('completed');
      expect(
        await eventually(
          async () => (await m.run('registry-client/0', 'pull', 'image=tls/app:v1')).status === 'completed',
        ),
      ).toBe(true);
      await skopeo(
        'copy',
        `--dest-cert-dir=${certs}`,
        '--dest-creds=alice:first-pass',
        `oci:${layout}:v1`,
        `docker://${proxy}/tls/during-failover:v1`,
      );
      expect((await m.run('docker-registry/0', 'start')).status).toBe('completed');
      let probe = 0;
      expect(
        await eventually(async () => {
          const path = `/v2/tls-probe/n${++probe}/tags/list`;
          await httpsStatus(`https://${proxy}${path}`, ca);
          await sleep(200);
          return (await unitLog(0)).includes(path);
        }),
      ).toBe(true);

      // A new password reaches the client.
      await model('config', 'docker-registry', 'auth-basic-password=second-pass');
      expect(await containerd()).toContain('password = "second-pass"');
      expect((await m.run('registry-client/0', 'pull', 'image=tls/app:v1')).status).toBe('completed');

      // Without the provider the registry serves HTTP again, and the client is told; containerd keeps to
      // https, so the unit says that its clients need TLS, and their pulls fail as a real one's would.
      await model('unrelate', 'docker-registry:cert-provider', 'easyrsa:client');
      expect((await m.unit('docker-registry/0'))['workload-status'].message).toBe(
        `Ready at ${addresses[0]}:5000 (http, proxied). Clients on docker-registry need TLS (containerd uses https).`,
      );
      expect((await fetch(`http://${addresses[0]}:5000/v2/`)).status).toBe(401);
      const info = await showUnit(m, 'registry-client/0');
      const received = info['relation-info'][0]?.['related-units']['docker-registry/0']?.data ?? {};
      expect(JSON.parse(received.tls_ca as string)).toBeNull();
      expect(JSON.parse(received.registry_url as string)).toBe(`http://${proxy}`);
      expect(await containerd()).not.toContain('.tls]');
      const refused = await m.run('registry-client/0', 'pull', 'image=tls/app:v1');
      expect(refused.status).toBe('failed');
      expect(refused.message).toMatch(/HTTP response to HTTPS client/);
    });

    it('nrpe: check_nrpe is OK (a 401 too), CRITICAL when stopped, WARNING for a certificate near its end', async () => {
      // Related last, to units already serving TLS with basic auth and a registry client.
      await model('relate', 'docker-registry:cert-provider', 'easyrsa:client');
      await model('deploy', 'nrpe');
      await model('relate', 'docker-registry', 'nrpe');
      for (const n of [0, 1]) {
        const ok = await checkNrpe(n);
        expect(ok.exitCode, ok.stdout).toBe(0);
        expect(ok.stdout).toMatch(/^REGISTRY OK - https:.* answered 401 \(authentication required\)/);
        expect((await m.unit(`nrpe/${n}`))['workload-status']).toEqual({
          current: 'active',
          message: `Ready on ${addresses[n]}:5666.`,
        });
      }
      // Nagios learns of the check over the relation too, in charm-helpers' format.
      const sub = await showUnit(m, 'nrpe/0');
      const monitors = sub['relation-info'][0]?.['related-units']['docker-registry/0']?.data.monitors;
      expect(parse(monitors as string)).toEqual({
        monitors: { remote: { nrpe: { docker_registry: { command: 'docker_registry' } } } },
      });
      // A daemon that died shows at the next hook; any hook but update-status starts it again.
      process.kill(
        Number(await readFile(join(m.dir, 'units/docker-registry-0/run/nrpe/nrpe.pid'), 'utf8')),
        'SIGKILL',
      );
      await model('hook', 'nrpe/0', 'update-status');
      expect((await m.unit('nrpe/0'))['workload-status']).toEqual({
        current: 'blocked',
        message: 'nagios-nrpe-server service inactive.',
      });
      await model('hook', 'nrpe/0', 'config-changed');
      expect((await m.unit('nrpe/0'))['workload-status'].current).toBe('active');
      expect((await checkNrpe(0)).exitCode).toBe(0);
      await model('unrelate', 'docker-registry:cert-provider', 'easyrsa:client');

      expect((await m.run('docker-registry/0', 'stop')).status).toBe('completed');
      const down = await checkNrpe(0);
      expect(down.exitCode).toBe(2);
      expect(down.stdout).toMatch(/^REGISTRY CRITICAL - .*ECONNREFUSED/);
      expect((await m.run('docker-registry/0', 'start')).status).toBe('completed');
      expect((await checkNrpe(0)).exitCode).toBe(0);

      const ca = createCertificateAuthority({ commonName: 'Short-lived CA' });
      const cert = issueCertificate(ca, {
        commonName: addresses[0] as string,
        altNames: [...addresses, proxy.split(':')[0] as string],
        days: 10,
      });
      await model(
        'config',
        'docker-registry',
        `tls-ca-blob=${b64(ca.certPem)}`,
        `tls-cert-blob=${b64(cert.certPem)}`,
        `tls-key-blob=${b64(cert.keyPem)}`,
      );
      const expiring = await checkNrpe(0);
      expect(expiring.exitCode, expiring.stdout).toBe(1);
      expect(expiring.stdout).toMatch(/^REGISTRY WARNING - certificate expires in 9 days/);
      await model('config', 'docker-registry', '--reset', 'tls-ca-blob,tls-cert-blob,tls-key-blob');

      await model('unrelate', 'docker-registry', 'nrpe');
      const unitDir = join(m.dir, 'units/docker-registry-0');
      await expect(stat(join(unitDir, 'etc/nagios/nrpe.d/check_docker_registry.cfg'))).rejects.toThrow();
      await expect(
        stat(join(unitDir, 'var/lib/nagios/export/service__docker-registry-0_docker_registry.cfg')),
      ).rejects.toThrow();
      expect((await m.model('status', '--format', 'json')).stdout).not.toContain('nrpe/0');
      expect((await checkNrpe(0)).exitCode).toBe(2);
    });

    // Only root can be refused so: nrpe run by another user runs the checks as that user.
    it.runIf(process.getuid?.() === 0)(
      'nrpe says so when the model lives where the nagios user cannot read its checks',
      async () => {
        const parent = await mkdtemp(join(tmpdir(), 'regop-private-'));
        await chmod(parent, 0o700);
        const hidden = await newModel(parent);
        try {
          expect((await hidden.model('deploy', 'docker-registry')).exitCode).toBe(0);
          expect((await hidden.model('deploy', 'nrpe')).exitCode).toBe(0);
          expect((await hidden.model('relate', 'docker-registry', 'nrpe')).exitCode).toBe(0);
          const status = (await hidden.unit('nrpe/0'))['workload-status'];
          expect(status.current).toBe('blocked');
          expect(status.message).toContain('the nagios user cannot read');
        } finally {
          await hidden.destroy();
          await rm(parent, { recursive: true, force: true });
        }
      },
    );

    it('removing the leader moves the services to the new leader; departures clean up what they wrote', async () => {
      await model('remove-unit', 'docker-registry/0');
      const leader = await showUnit(m, 'docker-registry/1');
      expect(leader.leader).toBe(true);
      const website = leader['relation-info'].find((r) => r.endpoint === 'website');
      const [service] = parse(website?.['local-unit'].data.services as string);
      expect(service.servers).toEqual([['docker-registry-1', addresses[1], 5000, CHECK]]);
      const cfg = await readFile(join(m.dir, 'units/haproxy-0/etc/haproxy/haproxy.cfg'), 'utf8');
      expect(cfg).not.toContain('docker-registry-0');
      await skopeo(
        'copy',
        '--src-tls-verify=false',
        '--src-creds=alice:second-pass',
        `docker://${proxy}/tls/app:v1`,
        `oci:${m.dir}/pulled:last`,
      );

      await model('unrelate', 'docker-registry', 'registry-client');
      expect(
        await readFile(join(m.dir, 'units/registry-client-0/etc/containerd/config.toml'), 'utf8'),
      ).not.toContain(proxy);
      expect((await m.unit('registry-client/0'))['workload-status'].message).toBe(
        'Container runtime available.',
      );
      await model('unrelate', 'docker-registry', 'haproxy');
      // As the real charm: no backends left, haproxy serves its default page.
      expect((await m.unit('haproxy/0'))['workload-status'].message).toMatch(/default page/);
      await expect(fetch(`http://${proxy}/v2/`)).rejects.toThrow();
      expect((await m.unit('docker-registry/1'))['workload-status'].message).toBe(
        `Ready at ${addresses[1]}:5000 (http).`,
      );
    });
  },
);
