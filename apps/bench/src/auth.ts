import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Server, startSlapd } from '@regop/peers';
import { digestOf, median } from './client.js';
import { ab } from './scenarios.js';
import { DOCKER_REGISTRY, OURS, startRegistry } from './servers.js';

const run = promisify(execFile);
const USER = 'bench';
const PASSWORD = 'bench-password';
const BASIC = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** One small image, pushed with the credentials; returns its manifest URL. */
async function seed(url: string): Promise<string> {
  const repo = 'bench/auth';
  const put = async (blob: Buffer) => {
    const post = await fetch(`${url}/v2/${repo}/blobs/uploads/`, {
      method: 'POST',
      headers: { authorization: BASIC },
    });
    const upload = new URL(post.headers.get('location') ?? '', url);
    upload.searchParams.set('digest', digestOf(blob));
    const res = await fetch(upload, {
      method: 'PUT',
      body: blob,
      headers: { authorization: BASIC, 'content-type': 'application/octet-stream' },
    });
    if (res.status !== 201) throw new Error(`blob push to ${url}: HTTP ${res.status}`);
    return { digest: digestOf(blob), size: blob.length };
  };
  const config = await put(Buffer.from('{"architecture":"amd64","os":"linux"}'));
  const layer = await put(randomBytes(1024));
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
  });
  const res = await fetch(`${url}/v2/${repo}/manifests/latest`, {
    method: 'PUT',
    body: manifest,
    headers: { authorization: BASIC, 'content-type': OCI_MANIFEST },
  });
  if (res.status !== 201) throw new Error(`manifest push to ${url}: HTTP ${res.status}`);
  return `${url}/v2/${repo}/manifests/latest`;
}

/**
 * Manifest HEAD and GET rates under Basic auth with a cost-10 bcrypt htpasswd (what the charm writes), the
 * client sending its credentials on every request as docker does: this registry (A) and docker-registry (B),
 * each started here on its own store, in alternating rounds.
 */
export async function benchBasicAuth(rounds: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'regop-bench-auth-'));
  const servers: Server[] = [];
  try {
    const htpasswd = join(dir, 'htpasswd');
    await run('htpasswd', ['-B', '-C', '10', '-c', '-b', htpasswd, USER, PASSWORD]);
    const auth = [`auth: { htpasswd: { realm: bench, path: ${htpasswd} } }`];
    const ours = await startRegistry(dir, 'ours', OURS, { extra: auth, readyStatus: 401 });
    servers.push(ours.server);
    const theirs = await startRegistry(dir, 'theirs', DOCKER_REGISTRY, { extra: auth, readyStatus: 401 });
    servers.push(theirs.server);
    const targets = [
      { label: 'A', manifest: await seed(ours.url) },
      { label: 'B', manifest: await seed(theirs.url) },
    ];
    let rows = '';
    let htpasswdHead = 0;
    for (const method of ['HEAD', 'GET'] as const) {
      const rates = new Map<string, number[]>(targets.map((t) => [t.label, []]));
      for (let round = 0; round < rounds; round++) {
        for (const t of round % 2 === 0 ? targets : [...targets].reverse()) {
          const rate = await ab(t.manifest, method, ['-A', `${USER}:${PASSWORD}`]);
          rates.get(t.label)?.push(rate);
          process.stderr.write(
            `  manifest ${method}, basic auth [${t.label} round ${round + 1}]: ${rate.toFixed(0)} req/s\n`,
          );
        }
      }
      const a = median(rates.get('A') ?? []);
      const b = median(rates.get('B') ?? []);
      rows += `| manifest ${method} under basic auth, cost-10 htpasswd (32 connections, ab) (req/s) | ${a.toFixed(0)} | ${b.toFixed(0)} | ${(a / b).toFixed(1)}x |\n`;
      if (method === 'HEAD') htpasswdHead = a;
    }
    return rows + (await benchLdap(dir, rounds, htpasswdHead));
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * This registry signing users in against an LDAP directory (slapd on loopback), manifest HEADs with the
 * credentials on every request: with verified credentials cached (the default minute; the goal is htpasswd's
 * cached rate) and with the cache at a millisecond, so every request asks the directory. docker-registry has no
 * LDAP; the rows compare with this registry's htpasswd rate.
 */
async function benchLdap(dir: string, rounds: number, htpasswdHead: number): Promise<string> {
  try {
    await run('sh', ['-c', 'command -v slapd']);
  } catch {
    process.stderr.write('LDAP rows skipped: slapd is not installed (apt-get install slapd)\n');
    return '';
  }
  const suffix = 'dc=bench,dc=test';
  const slapd = await startSlapd({
    suffix,
    ldif: [
      `dn: ${suffix}\nobjectClass: dcObject\nobjectClass: organization\no: Bench\ndc: bench\n`,
      `dn: uid=${USER},${suffix}\nobjectClass: inetOrgPerson\nuid: ${USER}\ncn: ${USER}\nsn: ${USER}\nuserPassword: ${PASSWORD}\n`,
    ].join('\n'),
  });
  const servers: Server[] = [];
  try {
    const ldap = (ttl: string) => [
      `auth: { ldap: { realm: bench, url: "${slapd.url}", binddn: "${slapd.adminDn}", bindpassword: "${slapd.adminPassword}", userbase: "${suffix}", cache: { ttl: ${ttl} } } }`,
    ];
    let rows = '';
    for (const [label, ttl] of [
      ['cache warm', '1m'],
      ['every request asking the directory', '1ms'],
    ] as const) {
      const started = await startRegistry(dir, `ldap-${ttl}`, OURS, { extra: ldap(ttl), readyStatus: 401 });
      servers.push(started.server);
      const manifest = await seed(started.url);
      const rates: number[] = [];
      for (let round = 0; round < rounds; round++) {
        rates.push(await ab(manifest, 'HEAD', ['-A', `${USER}:${PASSWORD}`]));
        process.stderr.write(
          `  manifest HEAD, LDAP ${label} [round ${round + 1}]: ${rates.at(-1)?.toFixed(0)} req/s\n`,
        );
      }
      const rate = median(rates);
      rows += `| manifest HEAD under basic auth, LDAP directory (slapd), ${label} (req/s) | ${rate.toFixed(0)} | - | ${(rate / htpasswdHead).toFixed(2)}x of htpasswd |\n`;
    }
    return rows;
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await slapd.stop();
  }
}
