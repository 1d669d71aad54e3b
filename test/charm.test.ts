import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { createCertificateAuthority, issueCertificate, type KeyPair } from '@regop/auth';
import { type Server, stopAll } from '@regop/peers';
import { execa } from 'execa';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  insecure,
  makeMultiArchLayout,
  makeOciImage,
  ociManifestDigest,
  refusedCopy,
  skopeo,
} from './support/images.js';
import { MODEL_CLI, newModel } from './support/model.js';
import { describeWithPeers } from './support/peers.js';
import { startOurRegistry } from './support/registries.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const UNIT = 'docker-registry/0';

/** GET over HTTPS trusting `ca`: the status code. */
const httpsStatus = (url: string, ca: string) =>
  new Promise<number>((resolve, reject) => {
    request(url, { ca }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    })
      .on('error', reject)
      .end();
  });

// Issue 6: the charm deployed in the local model, driven as an operator would, with real skopeo.
describeWithPeers(['skopeo', 'umoci'], 'the docker-registry charm in the local model', () => {
  let m: Awaited<ReturnType<typeof newModel>>;
  let address: string;
  let layout: string;
  let ca: KeyPair;
  let server: KeyPair;
  let certDir: string;
  const base = () => `${address}:5000`;

  beforeAll(async () => {
    m = await newModel();
    layout = await makeOciImage(m.dir, 'v1', [256 * 1024, 4096]);
    const deployed = await m.model('deploy', join(import.meta.dirname, '../charm'));
    expect(deployed.exitCode, deployed.stderr).toBe(0);
    address = (await m.unit(UNIT))['public-address'];
    ca = createCertificateAuthority({ commonName: 'Model CA' });
    server = issueCertificate(ca, { commonName: address, altNames: [address] });
    certDir = join(m.dir, 'certs');
    await rm(certDir, { recursive: true, force: true });
    await import('node:fs/promises').then((fs) => fs.mkdir(certDir, { recursive: true }));
    await writeFile(join(certDir, 'ca.crt'), ca.certPem);
  }, 240_000);
  afterAll(async () => {
    await m?.destroy();
    await stopAll();
    await rm(m?.dir ?? '', { recursive: true, force: true });
  });

  it('`pnpm model status --format json` prints the JSON alone (it pipes into jq)', async () => {
    const { stdout } = await execa('pnpm', ['model', 'status', '--format', 'json'], {
      cwd: join(import.meta.dirname, '..'),
      env: { MODEL_DIR: m.dir },
    });
    expect(Object.keys(JSON.parse(stdout).applications)).toEqual(['docker-registry']);
  });

  it('deploys to active "Ready at ADDRESS:5000 (http)." and skopeo pushes and pulls', async () => {
    expect((await m.unit(UNIT))['workload-status']).toEqual({
      current: 'active',
      message: `Ready at ${base()} (http).`,
    });
    await skopeo('copy', ...insecure, `oci:${layout}:v1`, `docker://${base()}/app:v1`);
    await skopeo('copy', ...insecure, `docker://${base()}/app:v1`, `oci:${m.dir}/pulled:v1`);
    expect(await ociManifestDigest(join(m.dir, 'pulled'), 'v1')).toBe(await ociManifestDigest(layout, 'v1'));
  });

  it('serves HTTPS with the tls-*-blob certificate, then basic auth, then open HTTP again when unset', async () => {
    const tls = [
      `tls-ca-blob=${b64(ca.certPem)}`,
      `tls-cert-blob=${b64(server.certPem)}`,
      `tls-key-blob=${b64(server.keyPem)}`,
    ];
    expect((await m.model('config', 'docker-registry', ...tls)).exitCode).toBe(0);
    expect((await m.unit(UNIT))['workload-status']).toEqual({
      current: 'active',
      message: `Ready at ${base()} (https).`,
    });
    expect(await httpsStatus(`https://${base()}/v2/`, ca.certPem)).toBe(200);
    // skopeo verifies the certificate against the CA.
    await skopeo('copy', `--dest-cert-dir=${certDir}`, `oci:${layout}:v1`, `docker://${base()}/tls/app:v1`);
    expect(await refusedCopy(`oci:${layout}:v1`, `docker://${base()}/tls/unverified:v1`)).toBeDefined();

    const password = 'pa55-word-never-logged';
    await m.model('config', 'docker-registry', 'auth-basic-user=alice', `auth-basic-password=${password}`);
    expect(await httpsStatus(`https://${base()}/v2/`, ca.certPem)).toBe(401);
    await skopeo(
      'copy',
      `--dest-cert-dir=${certDir}`,
      `--dest-creds=alice:${password}`,
      `oci:${layout}:v1`,
      `docker://${base()}/auth/app:v1`,
    );
    // Secrets never reach logs, status or action output.
    const images = await m.run(UNIT, 'images');
    expect(images.results.output).toContain('auth/app');
    const unitDir = join(m.dir, 'units/docker-registry-0');
    const logs = (await readdir(unitDir, { recursive: true })).filter((f) => f.endsWith('.log'));
    for (const log of logs) expect(await readFile(join(unitDir, log), 'utf8')).not.toContain(password);
    expect((await m.model('status', '--format', 'json')).stdout).not.toContain(password);
    expect(JSON.stringify(images)).not.toContain(password);

    await m.model(
      'config',
      'docker-registry',
      '--reset',
      'tls-ca-blob,tls-cert-blob,tls-key-blob,auth-basic-password',
    );
    expect((await m.unit(UNIT))['workload-status'].message).toBe(`Ready at ${base()} (http).`);
    expect((await fetch(`http://${base()}/v2/`)).status).toBe(200);
  });

  it('blocks on each bad TLS blob, naming the option, while the registry keeps serving', async () => {
    const expired = issueCertificate(ca, {
      commonName: address,
      altNames: [address],
      notBefore: new Date(Date.now() - 3 * 86_400_000),
      days: 1,
    });
    const other = issueCertificate(ca, { commonName: 'other' });
    // The reason is in the status (Juju shows one line), not only in juju.log.
    const cases: [string[], RegExp][] = [
      [['tls-cert-blob=not base64!', `tls-key-blob=${b64(server.keyPem)}`], /^tls-cert-blob is not base64$/],
      [
        [`tls-cert-blob=${b64('just text, no PEM')}`, `tls-key-blob=${b64(server.keyPem)}`],
        /^tls-cert-blob is base64 but not PEM$/,
      ],
      [
        [`tls-cert-blob=${b64(server.certPem)}`, `tls-key-blob=${b64(other.keyPem)}`],
        /^tls-key-blob does not match the certificate in tls-cert-blob$/,
      ],
      [
        [`tls-cert-blob=${b64(expired.certPem)}`, `tls-key-blob=${b64(expired.keyPem)}`],
        /^tls-cert-blob certificate expired on .* GMT$/,
      ],
    ];
    for (const [settings, reason] of cases) {
      await m.model('config', 'docker-registry', ...settings);
      const status = (await m.unit(UNIT))['workload-status'];
      expect(status.current, settings.join(' ')).toBe('blocked');
      expect(status.message.replace('Invalid charm config: ', '')).toMatch(reason);
      expect((await fetch(`http://${base()}/v2/`)).status).toBe(200);
    }
    await m.model('config', 'docker-registry', '--reset', 'tls-cert-blob,tls-key-blob');
    expect((await m.unit(UNIT))['workload-status'].current).toBe('active');
  });

  it('pushes from an OCI layout and from another registry, lists with images, removes with rmi', async () => {
    const fromLayout = await m.run(UNIT, 'push', `image=oci:${layout}:v1`, 'tag=layout/app:v1');
    expect(fromLayout.status, fromLayout.message).toBe('completed');
    expect(fromLayout.results.digest).toBe(await ociManifestDigest(layout, 'v1'));
    expect(fromLayout.log?.some((l) => l.startsWith('Copying blob'))).toBe(true);

    // A multi-arch index is pushed whole, every platform, unless `platform` narrows it.
    const multi = await makeMultiArchLayout(m.dir, 'v3', ['amd64', 'arm64']);
    const pushedIndex = await m.run(UNIT, 'push', `image=oci:${multi.layout}:v3`, 'tag=multi/app:v3');
    expect(pushedIndex.status, pushedIndex.message).toBe('completed');
    for (const child of Object.values(multi.children))
      expect(
        (await fetch(`http://${base()}/v2/multi/app/manifests/${child}`, { method: 'HEAD' })).status,
      ).toBe(200);
    const raw = await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${base()}/multi/app:v3`);
    expect(JSON.parse(raw.stdout).manifests).toHaveLength(2);
    const narrowed = await m.run(
      UNIT,
      'push',
      `image=oci:${multi.layout}:v3`,
      'tag=multi/arm:v3',
      'platform=linux/arm64',
    );
    expect(narrowed.status, narrowed.message).toBe('completed');
    expect(narrowed.results.digest).toBe(multi.children.arm64);

    // Paths in action parameters are the caller's: relative to where `model run` is typed.
    const relative = await execa(
      process.execPath,
      [MODEL_CLI, 'run', UNIT, 'push', 'image=oci:multiarch:amd64', 'tag=relative/app:v1'],
      { cwd: m.dir, env: { MODEL_DIR: m.dir }, reject: false },
    );
    expect(relative.exitCode, relative.stdout + relative.stderr).toBe(0);

    const archive = join(m.dir, 'app.tar');
    await skopeo('copy', `oci:${layout}:v1`, `docker-archive:${archive}:archived/app:v1`);
    const fromArchive = await m.run(UNIT, 'push', `image=docker-archive:${archive}`, 'tag=archived/app:v1');
    expect(fromArchive.status, fromArchive.message).toBe('completed');

    const other: Server = await startOurRegistry({
      root: join(m.dir, 'other-data'),
      dir: join(m.dir, 'other'),
    });
    const otherHost = new URL(other.url).host;
    const single = await makeOciImage(join(m.dir, 'single'), 'v2', [128 * 1024]);
    await skopeo('copy', ...insecure, `oci:${single}:v2`, `docker://${otherHost}/upstream/only:v2`);
    const fromRegistry = await m.run(UNIT, 'push', `image=${otherHost}/upstream/only:v2`);
    expect(fromRegistry.status, fromRegistry.message).toBe('completed');
    // The default tag follows Canonical's charm: net_location/name:version.
    expect(fromRegistry.results.image).toBe(`${base()}/upstream/only:v2`);
    // pull=false pushes from the unit's image store, under another tag.
    const again = await m.run(
      UNIT,
      'push',
      `image=${otherHost}/upstream/only:v2`,
      'pull=false',
      'tag=upstream/again:v2',
    );
    expect(again.status, again.message).toBe('completed');

    const listed = JSON.parse(
      (await m.run(UNIT, 'images', 'options=--format json')).results.output ?? '[]',
    ) as { repository: string; tag: string; digest: string; size: number }[];
    expect(listed.map((r) => `${r.repository}:${r.tag}`)).toEqual(
      expect.arrayContaining(['layout/app:v1', 'archived/app:v1', 'upstream/only:v2', 'upstream/again:v2']),
    );
    expect(listed.every((r) => r.size > 0 && r.digest.startsWith('sha256:'))).toBe(true);
    const digests = await m.run(UNIT, 'images', 'repository=upstream/only', 'options=--digests --no-trunc');
    expect(digests.results.output).toContain(fromRegistry.results.digest);

    // A digest other tags still name needs --force; by tag, the last tag takes the manifest with it.
    const refused = await m.run(UNIT, 'rmi', `image=upstream/only@${fromRegistry.results.digest}`);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.message).toMatch(/is tagged upstream\/only:v2.*--force/);
    const blobsDir = join(m.dir, 'units/docker-registry-0/srv/registry/docker/registry/v2/blobs/sha256');
    const layer = JSON.parse(
      await readFile(join(single, 'blobs/sha256', (await ociManifestDigest(single, 'v2')).slice(7)), 'utf8'),
    ) as { layers: { digest: string }[] };
    const onlyLayer = (layer.layers.at(-1)?.digest ?? '').slice(7);
    const blobExists = () =>
      readFile(join(blobsDir, onlyLayer.slice(0, 2), onlyLayer, 'data')).then(
        () => true,
        () => false,
      );
    expect(await blobExists()).toBe(true);
    expect((await m.run(UNIT, 'rmi', 'image=upstream/again:v2')).status).toBe('completed');
    expect(await blobExists()).toBe(true);
    const byDigest = await m.run(
      UNIT,
      'rmi',
      `image=upstream/only@${fromRegistry.results.digest}`,
      'options=--force',
    );
    expect(byDigest.status, byDigest.message).toBe('completed');
    const after = JSON.parse(
      (await m.run(UNIT, 'images', 'options=--format json')).results.output ?? '[]',
    ) as { repository: string }[];
    expect(after.map((r) => r.repository)).not.toContain('upstream/only');
    expect(await blobExists()).toBe(false);
    // What other images share stays.
    expect(after.map((r) => r.repository)).toContain('layout/app');

    const unknown = await m.run(UNIT, 'rmi', 'image=layout/app:v1', 'options=--bogus');
    expect(unknown.message).toMatch(/unknown option/);
    const badParam = await m.model('run', UNIT, 'push', 'image=x', 'colour=blue');
    expect(badParam.exitCode).not.toBe(0);
    expect(badParam.stderr).toMatch(/unknown parameter "colour"/);
  });

  it('collects with retention: the gc action reports a dry run, then removes; the leader schedules it', async () => {
    for (const tag of ['a', 'b']) {
      const pushed = await m.run(UNIT, 'push', `image=oci:${layout}:v1`, `tag=gcdemo/app:${tag}`);
      expect(pushed.status, pushed.message).toBe('completed');
      await new Promise((r) => setTimeout(r, 20));
    }
    const tags = async () =>
      ((await (await fetch(`http://${base()}/v2/gcdemo/app/tags/list`)).json()) as { tags: string[] }).tags;
    expect((await m.model('config', 'docker-registry', 'gc-interval=daily')).exitCode).toBe(0);
    expect((await m.unit(UNIT))['workload-status']).toMatchObject({
      current: 'blocked',
      message: expect.stringMatching(/gc-interval/),
    });
    await m.model(
      'config',
      'docker-registry',
      'gc-interval=24h',
      'retention-rules=- repositories: "gcdemo/*"\n  keeplast: 1\n',
    );
    expect((await m.unit(UNIT))['workload-status'].current).toBe('active');
    const config = parse(
      await readFile(join(m.dir, 'units/docker-registry-0/etc/docker/registry/config.yml'), 'utf8'),
    );
    expect(config.storage.maintenance.garbagecollect).toEqual({
      enabled: true,
      interval: '24h',
      retention: [{ repositories: 'gcdemo/*', keeplast: 1 }],
    });

    // Tags pushed within the grace period (default 1h) are a push in flight's: these are seconds old.
    const dry = await m.run(UNIT, 'gc', 'grace=0s');
    expect(dry.status, dry.message).toBe('completed');
    expect(dry.results.report).toMatch(
      /^gcdemo\/app \(retention rule 1\): 1 tags and 0 manifests would be removed, 0\.0 MiB freed\n {2}gcdemo\/app:a pushed \S+: not among the 1 most recently pushed/,
    );
    expect(await tags()).toEqual(['a', 'b']);
    const real = await m.run(UNIT, 'gc', 'dry-run=false', 'grace=0s');
    expect(real.status, real.message).toBe('completed');
    expect(real.results['tags-removed']).toBe('1');
    expect(await tags()).toEqual(['b']);
    await m.model('config', 'docker-registry', '--reset', 'gc-interval,retention-rules');
  });

  it('packs into a deployable charm (pnpm charm:pack) that the model deploys to active', async () => {
    const out = join(m.dir, 'packed/charm');
    const pack = await execa('pnpm', ['-s', 'charm:pack', out], { cwd: join(import.meta.dirname, '..') });
    expect(pack.stdout.trim().split('\n')).toEqual([out, join(m.dir, 'packed/docker-registry.charm')]);
    const zip = unzipSync(await readFile(join(m.dir, 'packed/docker-registry.charm')));
    expect(Object.keys(zip)).toEqual(
      expect.arrayContaining([
        'metadata.yaml',
        'config.yaml',
        'actions.yaml',
        'manifest.yaml',
        'dispatch',
        'lib/package.json',
        'lib/agent/main.js',
        'lib/registry/main.js',
        'lib/check-registry/main.js',
        'lib/node_modules/@node-rs/bcrypt/package.json',
      ]),
    );
    // The packed charm needs nothing from the checkout: it runs from its own lib/.
    expect((await m.model('deploy', out, 'packed')).exitCode).toBe(0);
    const unit = await m.unit('packed/0');
    expect(unit['workload-status']).toEqual({
      current: 'active',
      message: `Ready at ${unit['public-address']}:5000 (http).`,
    });
    const service = JSON.parse(
      await readFile(join(m.dir, 'units/packed-0/etc/regop/services/registry.json'), 'utf8'),
    ) as { command: string[] };
    expect(service.command[1]).toBe(join(out, 'lib/registry/main.js'));
    expect((await fetch(`http://${unit['public-address']}:5000/v2/`)).status).toBe(200);
    // Basic auth loads the native bcrypt the charm carries in lib/node_modules.
    await m.model('config', 'packed', 'auth-basic-user=alice', 'auth-basic-password=packed-pass');
    expect((await fetch(`http://${unit['public-address']}:5000/v2/`)).status).toBe(401);
    const authorization = `Basic ${b64('alice:packed-pass')}`;
    expect(
      (await fetch(`http://${unit['public-address']}:5000/v2/`, { headers: { authorization } })).status,
    ).toBe(200);
    expect((await m.model('remove-unit', 'packed/0')).exitCode).toBe(0);

    // The zipped charm deploys as `juju deploy ./docker-registry.charm` does: unpacked into the model.
    const zipped = await m.model('deploy', join(m.dir, 'packed/docker-registry.charm'), 'zipped');
    expect(zipped.exitCode, zipped.stderr).toBe(0);
    const fromZip = await m.unit('zipped/0');
    expect(fromZip['workload-status']).toEqual({
      current: 'active',
      message: `Ready at ${fromZip['public-address']}:5000 (http).`,
    });
    const zippedService = JSON.parse(
      await readFile(join(m.dir, 'units/zipped-0/etc/regop/services/registry.json'), 'utf8'),
    ) as { command: string[] };
    expect(zippedService.command[1]).toMatch(
      new RegExp(`^${m.dir}/charms/docker-registry-[0-9a-f]{12}/lib/registry/main\\.js$`),
    );
    expect((await m.model('remove-unit', 'zipped/0')).exitCode).toBe(0);
  });

  it('adds a unit with its own address and registry, and removes it, stopping its processes', async () => {
    expect((await m.model('add-unit', 'docker-registry')).exitCode).toBe(0);
    const second = await m.unit('docker-registry/1');
    expect(second['public-address']).not.toBe(address);
    expect(second['workload-status']).toEqual({
      current: 'active',
      message: `Ready at ${second['public-address']}:5000 (http).`,
    });
    expect((await fetch(`http://${second['public-address']}:5000/v2/`)).status).toBe(200);
    expect((await m.model('remove-unit', 'docker-registry/1')).exitCode).toBe(0);
    await expect(fetch(`http://${second['public-address']}:5000/v2/`)).rejects.toThrow();
    expect((await m.model('status', '--format', 'json')).stdout).not.toContain('docker-registry/1');
  });

  it('stop takes the registry down and blocks; start brings it back', async () => {
    const stopped = await m.run(UNIT, 'stop');
    expect(stopped.status).toBe('completed');
    await expect(fetch(`http://${base()}/v2/`)).rejects.toThrow();
    expect((await m.unit(UNIT))['workload-status']).toEqual({
      current: 'blocked',
      message: 'registry service is stopped.',
    });
    // Hooks leave it stopped until the operator starts it.
    await m.model('config', 'docker-registry', 'log-level=debug');
    expect((await m.unit(UNIT))['workload-status'].current).toBe('blocked');
    expect((await m.run(UNIT, 'start')).status).toBe('completed');
    expect((await m.unit(UNIT))['workload-status']).toEqual({
      current: 'active',
      message: `Ready at ${base()} (http).`,
    });
    expect((await fetch(`http://${base()}/v2/`)).status).toBe(200);
  });
});
