import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Harness, Machine, ProcessServices } from '@regop/ops';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { dockerRegistryCharm } from './charm.js';
import { CHARM_DIR, freePort } from './test-support.js';

// The charm's hooks against the in-memory hook tools: everything else (files, the registry process) is real.
describe('docker-registry charm hooks', () => {
  let root: string;
  let machine: Machine;
  let services: ProcessServices;
  let harness: Harness;
  let port: number;
  const pidOf = async () => Number(await readFile(join(root, 'run/regop/registry.pid'), 'utf8'));

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'regop-agent-'));
    services = new ProcessServices(root);
    machine = new Machine(root, services);
    harness = await Harness.create(dockerRegistryCharm(machine), CHARM_DIR, 'docker-registry/0');
    harness.backend.address = '127.0.0.1';
    port = await freePort();
    harness.backend.config['registry-port'] = port;
    harness.backend.config['debug-port'] = await freePort();
  });
  afterAll(async () => {
    await services.remove('registry');
    await rm(root, { recursive: true, force: true });
  });

  it('install, leader-elected, config-changed and start bring the registry up', async () => {
    for (const hook of ['install', 'leader-elected', 'config-changed', 'start']) await harness.hook(hook);
    expect(harness.backend.status).toEqual({
      current: 'active',
      message: `Ready at 127.0.0.1:${port} (http).`,
    });
    expect(harness.backend.ports).toEqual(new Set([port]));
    const config = parse(await readFile(join(root, 'etc/docker/registry/config.yml'), 'utf8'));
    expect(config).toMatchObject({
      storage: { filesystem: { rootdirectory: join(root, 'srv/registry') }, delete: { enabled: false } },
      http: { addr: `127.0.0.1:${port}` },
    });
    // No http.secret: nothing here signs upload state (uploads continue from storage on any unit).
    expect(config.http.secret).toBeUndefined();
    expect(harness.backend.leaderData).toEqual({});
    expect((await fetch(`http://127.0.0.1:${port}/v2/`)).status).toBe(200);
  });

  it('runs the same reconcile for every other hook, restarting nothing when nothing changed', async () => {
    const pid = await pidOf();
    for (const hook of ['update-status', 'upgrade-charm', 'leader-settings-changed', 'post-series-upgrade'])
      await harness.hook(hook);
    // Every relation hook of every endpoint in metadata.yaml.
    const meta = parse(await readFile(join(CHARM_DIR, 'metadata.yaml'), 'utf8')) as Record<
      string,
      Record<string, unknown>
    >;
    const endpoints = ['provides', 'requires', 'peers'].flatMap((kind) => Object.keys(meta[kind] ?? {}));
    expect(endpoints.sort()).toEqual([
      'cert-provider',
      'docker-registry',
      'nrpe-external-master',
      'peer',
      'website',
    ]);
    for (const endpoint of endpoints) {
      const remote = endpoint === 'peer' ? 'docker-registry/1' : `${endpoint}-peer/0`;
      const id = harness.addRelation(endpoint, remote.split('/')[0] as string, { [remote]: {} });
      for (const event of ['created', 'joined', 'changed', 'departed'])
        await harness.hook(`${endpoint}-relation-${event}`, { id, remoteUnit: remote });
      // A related proxy shows in the status, as in Canonical's charm; a provider yet to answer keeps it waiting.
      if (endpoint === 'website')
        expect(harness.backend.status.message).toBe(`Ready at 127.0.0.1:${port} (http, proxied).`);
      if (endpoint === 'cert-provider')
        expect(harness.backend.status).toEqual({
          current: 'waiting',
          message: 'cert-provider: waiting for a certificate from cert-provider-peer',
        });
      harness.backend.relations.delete(id);
      await harness.hook(`${endpoint}-relation-broken`);
      expect(harness.backend.status).toEqual({
        current: 'active',
        message: `Ready at 127.0.0.1:${port} (http).`,
      });
    }
    expect(await pidOf()).toBe(pid);
  });

  it('ui-enabled serves the web UI and the status says where', async () => {
    await harness.config({ 'ui-enabled': true, 'ui-title': 'Public <mirror>' });
    expect(harness.backend.status.message).toBe(
      `Ready at 127.0.0.1:${port} (http). UI at http://127.0.0.1:${port}/ui.`,
    );
    const page = await fetch(`http://127.0.0.1:${port}/ui`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>Repositories · Public &lt;mirror&gt;</title>');
    await harness.config({ 'ui-enabled': false, 'ui-title': 'Container registry' });
    expect(harness.backend.status.message).toBe(`Ready at 127.0.0.1:${port} (http).`);
    expect((await fetch(`http://127.0.0.1:${port}/ui`)).status).toBe(404);
  });

  it('restarts on a change, writing htpasswd (bcrypt, 0600) only with both user and password', async () => {
    const pid = await pidOf();
    await harness.config({ 'auth-basic-password': 's3cret-value' });
    expect(await pidOf()).not.toBe(pid);
    const htpasswd = join(root, 'etc/docker/registry/htpasswd');
    expect(await readFile(htpasswd, 'utf8')).toMatch(/^admin:\$2[aby]\$10\$/);
    expect((await stat(htpasswd)).mode & 0o777).toBe(0o600);
    expect((await fetch(`http://127.0.0.1:${port}/v2/`)).status).toBe(401);
    await harness.config({ 'auth-basic-user': '' });
    await expect(stat(htpasswd)).rejects.toThrow();
    expect((await fetch(`http://127.0.0.1:${port}/v2/`)).status).toBe(200);
    // The password never reaches the logs or the status.
    expect(JSON.stringify([harness.backend.logs, harness.backend.status])).not.toContain('s3cret-value');
    await harness.config({ 'auth-basic-user': 'admin', 'auth-basic-password': '' });
  });

  it('blocks on invalid options, naming them, and leaves the running registry alone', async () => {
    const pid = await pidOf();
    await harness.config({ 'log-level': 'loud', 'storage-cache': 'redis' });
    expect(harness.backend.status).toEqual({
      current: 'blocked',
      message:
        'Invalid charm config: log-level must be one of error, warn, info, debug; storage-cache must be one of inmemory, disabled',
    });
    expect(await pidOf()).toBe(pid);
    await harness.config({
      'log-level': 'info',
      'storage-cache': 'inmemory',
      'cache-remoteurl': 'not a url',
    });
    expect(harness.backend.status.message).toBe(
      'Invalid charm config: cache-remoteurl must be the URL of the registry to cache, such as https://registry-1.docker.io',
    );
    await harness.config({ 'cache-remoteurl': '' });
    expect(harness.backend.status.current).toBe('active');
  });

  it('moves to another port, closing the old one', async () => {
    const next = await freePort();
    await harness.config({ 'registry-port': next });
    expect(harness.backend.ports).toEqual(new Set([next]));
    expect(harness.backend.status.message).toBe(`Ready at 127.0.0.1:${next} (http).`);
    port = next;
  });

  it('never reports Ready for another server on its port: blocked, saying the port is taken', async () => {
    const foreign = createServer((_req, res) => res.end('hello')).listen(0, '127.0.0.1');
    await new Promise((r) => foreign.once('listening', r));
    const taken = (foreign.address() as { port: number }).port;
    await harness.config({ 'registry-port': taken });
    expect(harness.backend.status).toEqual({
      current: 'blocked',
      message: `registry service failed to start: the process exited: http.addr: 127.0.0.1:${taken} is already in use (EADDRINUSE)`,
    });
    await new Promise((r) => foreign.close(r));
    await harness.config({ 'registry-port': port });
    expect(harness.backend.status.message).toBe(`Ready at 127.0.0.1:${port} (http).`);
  });

  it('stop and start actions; unknown services and actions fail cleanly', async () => {
    expect((await harness.action('stop', { name: 'other' })).failed).toMatch(/no service other/);
    const stopped = await harness.action('stop');
    expect(stopped.failed).toBeUndefined();
    expect(harness.backend.status).toEqual({ current: 'blocked', message: 'registry service is stopped.' });
    await expect(fetch(`http://127.0.0.1:${port}/v2/`)).rejects.toThrow();
    expect(await services.installed('registry')).toBe(false);
    await harness.hook('config-changed');
    expect(harness.backend.status.current).toBe('blocked');
    expect((await harness.action('push', { image: 'oci:/nowhere:v1' })).failed).toMatch(
      /stopped: run the start action/,
    );
    expect((await harness.action('start')).failed).toBeUndefined();
    expect(harness.backend.status.current).toBe('active');
    expect((await harness.action('dance')).failed).toBe('unknown action dance');
  });

  it('the stop and remove hooks (unit removal) stop and remove the service', async () => {
    await harness.hook('stop');
    await harness.hook('remove');
    expect(await services.installed('registry')).toBe(false);
    expect(await services.running('registry')).toBe(false);
  });
});
