import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCertificateAuthority, issueCertificate } from '@regop/auth';
import { Harness, Machine, ProcessServices } from '@regop/ops';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { dockerRegistryCharm } from './charm.js';
import { servicesYaml } from './relations/website.js';
import { CHARM_DIR, freePort } from './test-support.js';

/** The certificate the server presents, and the HTTP status, verifying against `ca`. */
const httpsGet = (url: string, ca: string) =>
  new Promise<{ status: number; serial: string }>((resolve, reject) => {
    request(url, { ca }, (res) => {
      res.resume();
      const cert = (res.socket as import('node:tls').TLSSocket).getPeerCertificate();
      resolve({ status: res.statusCode ?? 0, serial: cert.serialNumber });
    })
      .on('error', reject)
      .end();
  });

describe('the services haproxy is given', () => {
  const CHECK =
    'check inter 1000 fastinter 500 downinter 1000 rise 2 fall 2 observe layer4 error-limit 2 on-error mark-down maxconn 4096';
  it('puts the lowest unit number first and the others as backups (unit 10 after unit 2)', () => {
    const yaml = servicesYaml('docker-registry', 5000, [
      { unit: 'docker-registry/10', address: '10.0.0.10' },
      { unit: 'docker-registry/2', address: '10.0.0.2' },
      { unit: 'docker-registry/3', address: '10.0.0.3' },
    ]);
    expect(yaml).toContain(`- [ docker-registry-2, 10.0.0.2, 5000, ${CHECK} ]`);
    expect(parse(yaml)).toEqual([
      {
        service_name: 'docker-registry',
        service_host: '0.0.0.0',
        service_port: 5000,
        service_options: [
          'mode http',
          'balance leastconn',
          'option httpchk GET / HTTP/1.0',
          'retries 3',
          'option redispatch 1',
          'retry-on conn-failure empty-response',
        ],
        servers: [
          ['docker-registry-2', '10.0.0.2', 5000, CHECK],
          ['docker-registry-3', '10.0.0.3', 5000, `${CHECK} backup`],
          ['docker-registry-10', '10.0.0.10', 5000, `${CHECK} backup`],
        ],
      },
    ]);
  });

  it('passes TLS through and checks the servers over TLS, naming no file the proxy does not have', () => {
    const [service] = parse(servicesYaml('reg', 443, [{ unit: 'reg/0', address: '10.0.0.1' }], true));
    expect(service.service_options[0]).toBe('mode tcp');
    expect(service.servers[0][3]).toBe(`${CHECK} check-ssl verify none`);
    expect(service.servers[0][3]).not.toMatch(/ca-file|crt /);
  });
});

// Every relation through the one reconcile, with a real registry process; only the hook tools are in memory.
describe('docker-registry relations', () => {
  let root: string;
  let services: ProcessServices;
  let harness: Harness;
  let port: number;
  const ca = createCertificateAuthority({ commonName: 'Provider CA' });
  const other = createCertificateAuthority({ commonName: 'Another CA' });
  const serverCert = issueCertificate(ca, { commonName: '127.0.0.1', altNames: ['127.0.0.1'] });
  const stranger = issueCertificate(other, { commonName: '127.0.0.1', altNames: ['127.0.0.1'] });
  const json = (id: string) =>
    Object.fromEntries(Object.entries(harness.publishedData(id)).map(([k, v]) => [k, JSON.parse(v)]));

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'regop-relations-'));
    services = new ProcessServices(root);
    harness = await Harness.create(
      dockerRegistryCharm(new Machine(root, services)),
      CHARM_DIR,
      'docker-registry/0',
    );
    harness.backend.address = '127.0.0.1';
    port = await freePort();
    harness.backend.config['registry-port'] = port;
    harness.backend.config['debug-port'] = await freePort();
    for (const hook of ['install', 'leader-elected', 'config-changed', 'start']) await harness.hook(hook);
  });
  afterAll(async () => {
    await services.remove('registry');
    await rm(root, { recursive: true, force: true });
  });

  it('website: the leader alone speaks for the application (services and its address); a follower clears it all', async () => {
    const peer = harness.addRelation('peer', 'docker-registry', {
      'docker-registry/10': {},
      'docker-registry/2': {},
    });
    const website = harness.addRelation('website', 'haproxy', {
      'haproxy/0': { 'private-address': '10.9.9.9', 'ingress-address': '10.9.9.9' },
    });
    await harness.hook('website-relation-changed', { id: website, remoteUnit: 'haproxy/0' });
    const published = harness.publishedData(website);
    expect(published).toMatchObject({
      hostname: '127.0.0.1',
      'private-address': '127.0.0.1',
      port: String(port),
    });
    const [service] = parse(published.services as string);
    expect(service.servers.map((s: string[]) => s[0])).toEqual([
      'docker-registry-0',
      'docker-registry-2',
      'docker-registry-10',
    ]);
    expect(harness.backend.status.message).toBe(`Ready at 127.0.0.1:${port} (http, proxied).`);
    // A unit that is not the leader clears what it published before: haproxy would make a unit that sends a
    // port but no services an extra active server.
    harness.backend.leader = false;
    await harness.hook('leader-settings-changed');
    expect(harness.publishedData(website)).toEqual({});
    expect(harness.backend.status.message).toBe(`Ready at 127.0.0.1:${port} (http, proxied).`);
    harness.backend.leader = true;
    await harness.hook('leader-elected');
    expect(harness.publishedData(website).services).toBeDefined();
    harness.backend.relations.delete(peer);
  });

  it('docker-registry: clients get JSON values, the proxy as net location, credentials and no CA without TLS', async () => {
    const client = harness.addRelation('docker-registry', 'containerd', { 'containerd/0': {} });
    await harness.hook('docker-registry-relation-joined', { id: client, remoteUnit: 'containerd/0' });
    expect(json(client)).toEqual({
      registry_netloc: `10.9.9.9:${port}`,
      registry_url: `http://10.9.9.9:${port}`,
      basic_user: null,
      basic_password: null,
      tls_ca: null,
    });
    // containerd pulls over https only: the operator is told while the registry serves http.
    expect(harness.backend.status.message).toBe(
      `Ready at 127.0.0.1:${port} (http, proxied). Clients on docker-registry need TLS (containerd uses https).`,
    );
    await harness.config({ 'auth-basic-user': 'alice', 'auth-basic-password': 'pw-1' });
    expect(json(client)).toMatchObject({ basic_user: 'alice', basic_password: 'pw-1' });
    // A directory replaces that user: clients are sent no password, the directory's least of all.
    await harness.config({
      'auth-ldap-url': 'ldap://127.0.0.1:9',
      'auth-ldap-bind-dn': 'cn=registry,dc=example,dc=org',
      'auth-ldap-bind-password': 'directory-secret',
      'auth-ldap-user-base': 'dc=example,dc=org',
    });
    expect(json(client)).toMatchObject({ basic_user: null, basic_password: null });
    expect(JSON.stringify(harness.publishedData(client))).not.toContain('directory-secret');
    await harness.config({
      'auth-ldap-url': '',
      'auth-ldap-bind-dn': '',
      'auth-ldap-bind-password': '',
      'auth-ldap-user-base': '',
    });
    expect(json(client)).toMatchObject({ basic_user: 'alice', basic_password: 'pw-1' });
    await harness.config({ 'http-host': 'https://registry.example:8443/' });
    expect(json(client)).toMatchObject({ registry_netloc: 'registry.example:8443' });
    await harness.config({ 'http-host': '', 'auth-basic-password': '' });
    expect(json(client)).toMatchObject({ registry_netloc: `10.9.9.9:${port}`, basic_user: null });
  }, 30_000);

  it('cert-provider: asks for a certificate, serves HTTPS with it and tells the clients', async () => {
    const provider = harness.addRelation('cert-provider', 'easyrsa', { 'easyrsa/0': {} });
    await harness.hook('cert-provider-relation-joined', { id: provider, remoteUnit: 'easyrsa/0' });
    const request = harness.publishedData(provider);
    expect(request).toMatchObject({
      unit_name: 'docker-registry_0',
      common_name: '127.0.0.1',
      certificate_name: 'docker-registry_0',
    });
    expect(JSON.parse(request.sans as string)).toEqual(expect.arrayContaining(['127.0.0.1', '10.9.9.9']));
    expect(harness.backend.status.current).toBe('waiting');

    harness.setRelationData(provider, 'easyrsa/0', {
      ca: ca.certPem,
      'docker-registry_0.server.cert': serverCert.certPem,
      'docker-registry_0.server.key': serverCert.keyPem,
    });
    await harness.hook('cert-provider-relation-changed', { id: provider, remoteUnit: 'easyrsa/0' });
    expect(harness.backend.status.message).toBe(`Ready at 127.0.0.1:${port} (https, proxied).`);
    expect((await httpsGet(`https://127.0.0.1:${port}/v2/`, ca.certPem)).status).toBe(200);
    expect((await stat(join(root, 'etc/docker/registry/registry.key'))).mode & 0o777).toBe(0o600);
    const client = (await harness.backend.relationIds('docker-registry'))[0] as string;
    expect(json(client)).toMatchObject({ registry_url: `https://10.9.9.9:${port}`, tls_ca: ca.certPem });
    const [service] = parse(
      harness.publishedData((await harness.backend.relationIds('website'))[0] as string).services as string,
    );
    expect(service.service_options[0]).toBe('mode tcp');

    // A changed proxy changes the SANs asked for.
    harness.setRelationData((await harness.backend.relationIds('website'))[0] as string, 'haproxy/0', {
      'private-address': '10.9.9.10',
      'ingress-address': '10.9.9.10',
    });
    await harness.hook('website-relation-changed');
    expect(JSON.parse(harness.publishedData(provider).sans as string)).toContain('10.9.9.10');
  });

  it('cert-provider: bad data blocks naming the relation, and the registry keeps its last good certificate', async () => {
    const provider = (await harness.backend.relationIds('cert-provider'))[0] as string;
    const good = await httpsGet(`https://127.0.0.1:${port}/v2/`, ca.certPem);
    const cases: [Record<string, string>, string][] = [
      [
        {
          ca: ca.certPem,
          'docker-registry_0.server.cert': serverCert.certPem,
          'docker-registry_0.server.key': stranger.keyPem,
        },
        'cert-provider: the key from easyrsa/0 does not match the certificate',
      ],
      [
        {
          ca: ca.certPem,
          'docker-registry_0.server.cert': stranger.certPem,
          'docker-registry_0.server.key': stranger.keyPem,
        },
        'cert-provider: the CA from easyrsa/0 did not issue the certificate',
      ],
      [
        { ca: ca.certPem, 'docker-registry_0.processed_requests': '{not json' },
        'cert-provider: docker-registry_0.processed_requests from easyrsa/0 is not JSON',
      ],
    ];
    for (const [data, message] of cases) {
      harness.setRelationData(provider, 'easyrsa/0', data);
      await harness.hook('cert-provider-relation-changed', { id: provider, remoteUnit: 'easyrsa/0' });
      expect(harness.backend.status).toEqual({ current: 'blocked', message });
      expect(await httpsGet(`https://127.0.0.1:${port}/v2/`, ca.certPem)).toEqual(good);
    }
    // Certificates sent as a batch (processed_requests) serve as well.
    harness.setRelationData(provider, 'easyrsa/0', {
      ca: ca.certPem,
      'docker-registry_0.processed_requests': JSON.stringify({
        '127.0.0.1': { cert: serverCert.certPem, key: serverCert.keyPem },
      }),
    });
    await harness.hook('cert-provider-relation-changed', { id: provider, remoteUnit: 'easyrsa/0' });
    expect(harness.backend.status.current).toBe('active');

    // easyrsa's leader alone publishes the CA; another of its units may answer the request.
    harness.setRelationData(provider, 'easyrsa/0', { ca: ca.certPem });
    harness.setRelationData(provider, 'easyrsa/1', {
      'docker-registry_0.server.cert': serverCert.certPem,
      'docker-registry_0.server.key': serverCert.keyPem,
    });
    await harness.hook('cert-provider-relation-changed', { id: provider, remoteUnit: 'easyrsa/1' });
    expect(harness.backend.status.message).toMatch(/\(https, proxied\)/);
    // The SANs asked for hold the unit's public address as well as its private one.
    expect(JSON.parse(harness.publishedData(provider).sans as string)).toEqual(
      expect.arrayContaining(['127.0.0.1', harness.backend.publicAddr]),
    );
    harness.removeRelationUnit(provider, 'easyrsa/1');
  });

  it('cert-provider: when the relation goes the files go, HTTP is back and clients are told', async () => {
    const provider = (await harness.backend.relationIds('cert-provider'))[0] as string;
    harness.removeRelationUnit(provider, 'easyrsa/0');
    await harness.hook('cert-provider-relation-departed', { id: provider, remoteUnit: 'easyrsa/0' });
    harness.backend.relations.delete(provider);
    await harness.hook('cert-provider-relation-broken');
    await expect(stat(join(root, 'etc/docker/registry/registry.crt'))).rejects.toThrow();
    await expect(stat(join(root, 'etc/docker/registry/registry.key'))).rejects.toThrow();
    expect((await fetch(`http://127.0.0.1:${port}/v2/`)).status).toBe(200);
    const client = (await harness.backend.relationIds('docker-registry'))[0] as string;
    expect(json(client)).toMatchObject({ registry_url: `http://10.9.9.10:${port}`, tls_ca: null });
  });

  it('nrpe-external-master: writes the check and the service definition, and removes them when it goes', async () => {
    // What Canonical's charm left behind (its check_http wants "200 OK", CRITICAL once auth or TLS is on).
    const left = {
      'etc/nagios/nrpe.d/check_check_http.cfg':
        'command[check_http]=/usr/lib/nagios/plugins/check_http -I 127.0.0.1\n',
      'var/lib/nagios/export/service__docker-registry-0_check_http.cfg':
        'check_command check_nrpe!check_http\n',
      'etc/nagios/nrpe.d/check_other.cfg': 'command[other]=/bin/true\n',
    };
    for (const [file, text] of Object.entries(left)) {
      await mkdir(join(root, file, '..'), { recursive: true });
      await writeFile(join(root, file), text);
    }
    await harness.config({ nagios_context: 'prod', nagios_servicegroups: 'registries' });
    const nrpe = harness.addRelation('nrpe-external-master', 'nrpe', { 'nrpe/0': {} });
    await harness.hook('nrpe-external-master-relation-joined', { id: nrpe, remoteUnit: 'nrpe/0' });
    const check = await readFile(join(root, 'etc/nagios/nrpe.d/check_docker_registry.cfg'), 'utf8');
    expect(check).toContain(
      `command[docker_registry]=${join(root, 'usr/local/lib/nagios/plugins/check_registry')} --host=127.0.0.1 --port=${port}`,
    );
    const service = await readFile(
      join(root, 'var/lib/nagios/export/service__docker-registry-0_docker_registry.cfg'),
      'utf8',
    );
    expect(service).toContain('host_name                       prod-docker-registry-0');
    expect(service).toContain('servicegroups                   registries');
    expect(service).toContain('check_command                   check_nrpe!docker_registry');
    expect(harness.publishedData(nrpe).timestamp).toMatch(/^\d{4}-\d\d-\d\dT/);
    // The nrpe charm learns of the check over the relation too (charm-helpers' monitors format).
    expect(parse(harness.publishedData(nrpe).monitors as string)).toEqual({
      monitors: { remote: { nrpe: { docker_registry: { command: 'docker_registry' } } } },
    });
    await expect(stat(join(root, 'etc/nagios/nrpe.d/check_check_http.cfg'))).rejects.toThrow();
    await expect(
      stat(join(root, 'var/lib/nagios/export/service__docker-registry-0_check_http.cfg')),
    ).rejects.toThrow();
    expect(await readFile(join(root, 'etc/nagios/nrpe.d/check_other.cfg'), 'utf8')).toContain('other');
    harness.backend.relations.delete(nrpe);
    await harness.hook('nrpe-external-master-relation-broken');
    await expect(stat(join(root, 'etc/nagios/nrpe.d/check_docker_registry.cfg'))).rejects.toThrow();
    await expect(
      stat(join(root, 'var/lib/nagios/export/service__docker-registry-0_docker_registry.cfg')),
    ).rejects.toThrow();
  });
});
