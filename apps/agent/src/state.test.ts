/**
 * State transitions: given this config and these relation data, gather finds this state, and each relation's
 * publish has these effects. No registry runs: the hook tools are in memory, files in a temporary root.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCertificateAuthority, issueCertificate } from '@regop/auth';
import { type CharmContext, Harness, Machine, ProcessServices } from '@regop/ops';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { Applied } from './apply.js';
import { dockerRegistryCharm } from './charm.js';
import { statuses } from './reconcile.js';
import { RELATIONS } from './relations/index.js';
import { checkFile, serviceFile } from './relations/nrpe.js';
import type { Served } from './relations/relation.js';
import { configurable, gather, type UnitState, writeState } from './state.js';
import { mostSevere } from './status.js';
import { CHARM_DIR } from './test-support.js';

const ca = createCertificateAuthority({ commonName: 'CA' });
const cert = issueCertificate(ca, { commonName: '10.0.0.10', altNames: ['10.0.0.10'] });
const b64 = (s: string) => Buffer.from(s).toString('base64');

let root: string;
let machine: Machine;
let harness: Harness;
const ctx = (): CharmContext => ({
  event: { kind: 'hook', name: 'config-changed' },
  backend: harness.backend,
  unitName: harness.unitName,
  appName: 'docker-registry',
  charmDir: CHARM_DIR,
});
const gathered = async (): Promise<UnitState> => {
  const unit = await gather(ctx(), machine);
  if (!configurable(unit)) throw new Error(unit.blocked);
  return unit;
};
const served = (over: Partial<Served> = {}): Served => ({
  port: 5000,
  tlsOn: false,
  netloc: '10.0.0.10:5000',
  url: 'http://10.0.0.10:5000',
  ...over,
});
const publish = async <K extends keyof typeof RELATIONS>(name: K, unit: UnitState, how: Served) => {
  const module = RELATIONS[name] as (typeof RELATIONS)[keyof typeof RELATIONS];
  await (module.publish as (...args: unknown[]) => Promise<void>)?.(unit.relations[name], unit, how, {
    backend: harness.backend,
    machine,
  });
};

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'regop-state-'));
  machine = new Machine(root, new ProcessServices(root));
  harness = await Harness.create(dockerRegistryCharm(machine), CHARM_DIR, 'docker-registry/0');
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('website', () => {
  it('finds the proxies in unit order; the leader publishes every unit, the first primary', async () => {
    const id = harness.addRelation('website', 'haproxy', {
      'haproxy/10': { 'private-address': '10.0.9.10', 'ingress-address': '10.0.9.10' },
      'haproxy/2': { 'private-address': '10.0.9.2', 'ingress-address': '10.0.9.2' },
    });
    harness.addRelation('peer', 'docker-registry', { 'docker-registry/1': {} });
    const unit = await gathered();
    expect(unit.relations.website).toEqual({ proxies: ['10.0.9.2', '10.0.9.10'] });
    await publish('website', unit, served());
    const data = harness.publishedData(id);
    expect(data).toMatchObject({ hostname: '10.0.0.10', port: '5000' });
    expect(parse(data.services as string)[0].servers.map((s: string[]) => s[0])).toEqual([
      'docker-registry-0',
      'docker-registry-1',
    ]);
  });

  it('a follower clears everything a leader sent', async () => {
    const id = harness.addRelation('website', 'haproxy', { 'haproxy/0': {} });
    harness.backend.leader = false;
    await harness.backend.relationSet(id, { services: 'old', hostname: 'x', port: '1', all_services: 'y' });
    await publish('website', await gathered(), served());
    expect(harness.publishedData(id)).toEqual({});
  });
});

describe('peer', () => {
  it('lists the other units that have an address', async () => {
    harness.addRelation('peer', 'docker-registry', {
      'docker-registry/1': { 'private-address': '10.0.0.11', 'ingress-address': '10.0.0.11' },
      'docker-registry/2': { 'private-address': '', 'ingress-address': '' },
    });
    expect((await gathered()).relations.peer).toEqual({
      units: [{ unit: 'docker-registry/1', address: '10.0.0.11' }],
    });
  });
});

describe('cert-provider', () => {
  it('waits, then takes a valid certificate, and asks with every name the unit is reached by', async () => {
    const id = harness.addRelation('cert-provider', 'easyrsa', { 'easyrsa/0': {} });
    harness.addRelation('website', 'haproxy', {
      'haproxy/0': { 'private-address': '10.0.9.1', 'ingress-address': '10.0.9.1' },
    });
    harness.backend.config['http-host'] = 'https://registry.example.com';
    let unit = await gathered();
    expect(unit.relations.certProvider).toEqual({
      state: 'waiting',
      reason: 'waiting for a certificate from easyrsa',
    });
    expect(mostSevere(statuses(unit, { served: served() }))).toEqual({
      name: 'waiting',
      message: 'cert-provider: waiting for a certificate from easyrsa',
    });
    await publish('certProvider', unit, served());
    const request = harness.publishedData(id);
    expect(request).toMatchObject({ common_name: '10.0.0.10', unit_name: 'docker-registry_0' });
    expect(JSON.parse(request.sans as string)).toEqual(
      expect.arrayContaining(['10.0.0.10', '10.0.9.1', 'registry.example.com']),
    );

    harness.setRelationData(id, 'easyrsa/0', {
      ca: ca.certPem,
      'docker-registry_0.server.cert': cert.certPem,
      'docker-registry_0.server.key': cert.keyPem,
    });
    unit = await gathered();
    expect(unit.relations.certProvider).toMatchObject({ state: 'ready', from: 'easyrsa/0' });
    expect(unit.tls.plan).toEqual({
      kind: 'write',
      source: 'provider',
      files: { cert: cert.certPem, key: cert.keyPem, ca: ca.certPem },
    });
  });

  it('bad data blocks naming the relation and keeps the files; a departed provider takes them away', async () => {
    const id = harness.addRelation('cert-provider', 'easyrsa', {
      'easyrsa/0': {
        ca: ca.certPem,
        'docker-registry_0.server.cert': 'junk',
        'docker-registry_0.server.key': 'x',
      },
    });
    await writeState(machine, { tlsSource: 'provider' });
    let unit = await gathered();
    expect(unit.tls.plan).toEqual({ kind: 'keep' });
    expect(mostSevere(statuses(unit, { served: served() }))).toMatchObject({
      name: 'blocked',
      message: expect.stringMatching(/^cert-provider: the certificate from easyrsa\/0 /),
    });
    harness.removeRelationUnit(id, 'easyrsa/0');
    unit = await gathered();
    expect(unit.relations.certProvider).toEqual({ state: 'none' });
    expect(unit.tls.plan).toEqual({ kind: 'remove' });
  });

  it('the TLS blobs win over a provider, which the unit then does not wait for', async () => {
    harness.addRelation('cert-provider', 'easyrsa', { 'easyrsa/0': {} });
    harness.backend.config['tls-cert-blob'] = b64(cert.certPem);
    harness.backend.config['tls-key-blob'] = b64(cert.keyPem);
    const unit = await gathered();
    expect(unit.tls.plan).toMatchObject({ kind: 'write', source: 'blobs' });
    expect(mostSevere(statuses(unit, { served: served({ tlsOn: true }) }))?.name).toBe('active');
  });
});

describe('docker-registry', () => {
  it('tells every client the URL, credentials and CA, JSON-encoded, and notes when TLS is missing', async () => {
    const id = harness.addRelation('docker-registry', 'containerd', { 'containerd/0': {} });
    const unit = await gathered();
    expect(unit.relations.dockerRegistry).toEqual({ clients: 1 });
    await publish('dockerRegistry', unit, served({ basicAuth: { user: 'admin', password: 'pw' } }));
    expect(harness.publishedData(id)).toEqual({
      registry_netloc: '"10.0.0.10:5000"',
      registry_url: '"http://10.0.0.10:5000"',
      basic_user: '"admin"',
      basic_password: '"pw"',
      tls_ca: 'null',
    });
    expect(mostSevere(statuses(unit, { served: served() }))?.message).toBe(
      'Ready at 10.0.0.10:5000 (http). Clients on docker-registry need TLS (containerd uses https).',
    );
    expect(mostSevere(statuses(unit, { served: served({ tlsOn: true }) }))?.message).toBe(
      'Ready at 10.0.0.10:5000 (https).',
    );
  });
});

describe('nrpe-external-master', () => {
  it('names the host as the subordinate says, installs the check, and removes it when the relation goes', async () => {
    const id = harness.addRelation('nrpe-external-master', 'nrpe', {
      'nrpe/0': { nagios_hostname: 'juju-machine-3', nagios_host_context: 'prod' },
    });
    let unit = await gathered();
    expect(unit.relations.nrpe).toEqual({
      relationIds: [id],
      hostName: 'juju-machine-3',
      hostContext: 'prod',
    });
    await publish('nrpe', unit, served({ tlsOn: true, ca: ca.certPem, caPath: '/ca.crt' }));
    expect(await machine.read(checkFile)).toMatch(/--ssl --ca-file=\/ca\.crt/);
    expect(await machine.read(serviceFile('docker-registry/0'))).toMatch(/host_name +juju-machine-3/);
    expect(harness.publishedData(id)).toMatchObject({ monitors: expect.stringContaining('docker_registry') });

    harness.removeRelationUnit(id, 'nrpe/0');
    unit = await gathered();
    expect(unit.relations.nrpe.relationIds).toEqual([]);
    await publish('nrpe', unit, served());
    expect(await machine.read(checkFile)).toBeUndefined();
  });
});

describe('the unit', () => {
  it('is blocked, changing nothing, when the config is invalid or a TLS file cannot be read', async () => {
    harness.backend.config['registry-port'] = 0;
    expect(await gather(ctx(), machine)).toMatchObject({
      blocked: 'Invalid charm config: registry-port must be a port (1-65535)',
    });
    harness.backend.config['registry-port'] = 5000;
    await mkdir(join(root, 'etc/docker/registry/registry.key'), { recursive: true });
    expect(await gather(ctx(), machine)).toMatchObject({
      blocked: 'Cannot read /etc/docker/registry/registry.key (tls-key-path): EISDIR',
    });
  });

  it('says the most severe thing: a stopped service before a relation problem, any problem before ready', async () => {
    harness.addRelation('cert-provider', 'easyrsa', {
      'easyrsa/0': { ca: 'junk', 'docker-registry_0.server.cert': 'x', 'docker-registry_0.server.key': 'y' },
    });
    const unit = await gathered();
    const applied: Applied = { served: served() };
    expect(mostSevere(statuses(unit, applied))?.message).toMatch(/^cert-provider: /);
    unit.agent.stopped = true;
    expect(mostSevere(statuses(unit, applied))).toEqual({
      name: 'blocked',
      message: 'registry service is stopped.',
    });
  });
});
