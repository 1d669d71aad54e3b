import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCertificateAuthority, issueCertificate } from '@regop/auth/pki';
import { freePort, type Server, SLAPD_BINARIES, type Slapd, startSlapd, stopAll } from '@regop/peers';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { insecure, makeOciImage, ociManifestDigest, skopeo } from './support/images.js';
import { newModel } from './support/model.js';
import { describeWithPeers } from './support/peers.js';
import { startOurRegistry, startTokenServer } from './support/registries.js';

const SUFFIX = 'dc=example,dc=org';
const SERVICE_DN = `cn=registry,ou=services,${SUFFIX}`;
const person = (uid: string, ou: string, password: string) => `dn: uid=${uid},ou=${ou},${SUFFIX}
objectClass: inetOrgPerson
uid: ${uid}
cn: ${uid}
sn: ${uid}
userPassword: ${password}
`;
/** Two groups of people, a service account for the registry's searches, and a name that two entries share. */
const LDIF = [
  `dn: ${SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n`,
  ...['people', 'contractors', 'services', 'groups'].map(
    (ou) => `dn: ou=${ou},${SUFFIX}\nobjectClass: organizationalUnit\nou: ${ou}\n`,
  ),
  `dn: ${SERVICE_DN}\nobjectClass: simpleSecurityObject\nobjectClass: organizationalRole\ncn: registry\nuserPassword: service-pw\n`,
  person('alice', 'people', 'alice-pw'),
  person('bob', 'people', 'bob-pw'),
  person('dup', 'people', 'dup-pw'),
  person('dup', 'contractors', 'dup-pw'),
  `dn: cn=ops,ou=groups,${SUFFIX}\nobjectClass: groupOfNames\ncn: ops\nmember: uid=alice,ou=people,${SUFFIX}\n`,
  `dn: cn=dev,ou=groups,${SUFFIX}\nobjectClass: groupOfNames\ncn: dev\nmember: uid=bob,ou=people,${SUFFIX}\n`,
].join('\n');

let dir: string;
let layout: string;
let slapd: Slapd;

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const ldapSection = (url: string | string[], extra: Record<string, unknown> = {}) => ({
  auth: {
    ldap: {
      realm: 'Directory',
      url,
      binddn: SERVICE_DN,
      bindpassword: 'service-pw',
      userbase: SUFFIX,
      timeout: '2s',
      ratelimit: { disabled: true },
      ...extra,
    },
  },
});
const v2 = (registry: Server, authorization?: string) =>
  fetch(`${registry.url}/v2/`, { ...(authorization && { headers: { authorization } }) });
/** Whether the server's log shows `what` within 2 s (its logger writes asynchronously). */
async function logged(server: Server, what: string | RegExp): Promise<boolean> {
  for (let i = 0; i < 40; i++) {
    const output = server.output();
    if (typeof what === 'string' ? output.includes(what) : what.test(output)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
/** skopeo pushes the test image to `target` on `host` as `creds` (user:password). */
const push = (host: string, creds: string, target: string) =>
  skopeo('copy', ...insecure, '--dest-creds', creds, `oci:${layout}:v1`, `docker://${host}/${target}`);
let pulls = 0;
/** skopeo pulls `source` from `host` as `creds`; the digest of what it got. */
async function pull(host: string, creds: string, source: string): Promise<string> {
  const to = join(dir, `pulled-${++pulls}`);
  await skopeo('copy', ...insecure, '--src-creds', creds, `docker://${host}/${source}`, `oci:${to}:v1`);
  return ociManifestDigest(to, 'v1');
}

describeWithPeers(
  ['skopeo', 'umoci', ...SLAPD_BINARIES],
  'basic auth against an LDAP directory (slapd)',
  () => {
    const ca = createCertificateAuthority({ commonName: 'Directory CA' });
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'regop-ldap-'));
      layout = await makeOciImage(dir, 'v1', [64 * 1024]);
      slapd = await startSlapd({
        suffix: SUFFIX,
        ldif: LDIF,
        tls: issueCertificate(ca, { commonName: '127.0.0.1', altNames: ['127.0.0.1'] }),
      });
    });
    afterAll(async () => {
      await stopAll();
      await rm(dir, { recursive: true, force: true });
    });

    it('lets skopeo push and pull with directory credentials, and refuses every bad or hostile sign-in with 401', async () => {
      const registry = await startOurRegistry({
        root: join(dir, 'data'),
        dir: join(dir, 'plain'),
        extra: ldapSection(slapd.url),
      });
      const host = new URL(registry.url).host;
      await push(host, 'alice:alice-pw', 'ops/app:v1');
      expect(await pull(host, 'bob:bob-pw', 'ops/app:v1')).toBe(await ociManifestDigest(layout, 'v1'));

      const refused: [string, string][] = [
        ['alice', 'wrong'],
        ['nobody', 'alice-pw'],
        ['alice', ''],
        ['*', 'alice-pw'],
        ['alice)(uid=*', 'alice-pw'],
        ['*)(|(uid=*', 'x'],
        ['alice\0', 'alice-pw'],
        ['alice\\00', 'alice-pw'],
        // Two entries answer to this name: neither is let in.
        ['dup', 'dup-pw'],
      ];
      for (const [user, password] of refused) {
        const res = await v2(registry, basic(user, password));
        expect(res.status, `${JSON.stringify(user)}`).toBe(401);
        expect(res.headers.get('www-authenticate')).toBe('Basic realm="Directory"');
      }
    });

    it('answers an unknown user and a wrong password alike, in the same time', async () => {
      const registry = await startOurRegistry({
        root: join(dir, 'data'),
        dir: join(dir, 'timing'),
        extra: ldapSection(slapd.url),
      });
      const time = async (user: string) => {
        const started = process.hrtime.bigint();
        const res = await v2(registry, basic(user, 'not-the-password'));
        expect(res.status).toBe(401);
        return Number(process.hrtime.bigint() - started) / 1e6;
      };
      const unknown: number[] = [];
      const wrong: number[] = [];
      for (let i = 0; i < 5; i++) await time('alice');
      for (let i = 0; i < 41; i++) {
        unknown.push(await time(`nobody${i}`));
        wrong.push(await time('alice'));
      }
      const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] as number;
      const ratio = median(unknown) / median(wrong);
      expect(
        ratio,
        `unknown ${median(unknown).toFixed(2)} ms, wrong password ${median(wrong).toFixed(2)} ms`,
      ).toBeGreaterThan(0.8);
      expect(ratio).toBeLessThan(1.2);
    });

    it('with the directory down: 503 naming it, a user signed in a moment before keeps pulling, and it recovers', async () => {
      const debugPort = await freePort();
      const registry = await startOurRegistry({
        root: join(dir, 'data'),
        dir: join(dir, 'down'),
        extra: {
          ...ldapSection(slapd.url, { cache: { ttl: '1m' } }),
          http: { debug: { addr: `127.0.0.1:${debugPort}` } },
        },
      });
      const health = async () => {
        const res = await fetch(`http://127.0.0.1:${debugPort}/debug/health`);
        return { status: res.status, body: (await res.json()) as Record<string, string> };
      };
      expect(await health()).toEqual({ status: 200, body: {} });
      expect((await v2(registry, basic('alice', 'alice-pw'))).status).toBe(200);
      await slapd.stop();
      try {
        const started = Date.now();
        const res = await v2(registry, basic('bob', 'bob-pw'));
        expect(res.status).toBe(503);
        expect(Date.now() - started).toBeLessThan(5_000);
        // The client is told the directory is down; the log names the server and why.
        expect(((await res.json()) as { errors: { message: string }[] }).errors[0]?.message).toContain(
          'the user directory is unavailable',
        );
        expect(await logged(registry, `directory ${slapd.url} unavailable`)).toBe(true);
        expect((await v2(registry, basic('alice', 'alice-pw'))).status).toBe(200);
        // /debug/health reports the directory (its check runs every 10 s) without taking the registry out.
        let reported = await health();
        for (let i = 0; i < 60 && !reported.body.ldap; i++) {
          await new Promise((r) => setTimeout(r, 250));
          reported = await health();
        }
        expect(reported.status).toBe(503);
        expect(reported.body.ldap).toContain(slapd.url);
        expect((await v2(registry, basic('alice', 'alice-pw'))).status).toBe(200);
      } finally {
        await slapd.start();
      }
      expect((await v2(registry, basic('bob', 'bob-pw'))).status).toBe(200);
    });

    it('takes the second url when the first does not answer', async () => {
      const dead = `ldap://127.0.0.1:${await freePort()}`;
      const registry = await startOurRegistry({
        root: join(dir, 'data'),
        dir: join(dir, 'failover'),
        extra: ldapSection([dead, slapd.url]),
      });
      expect((await v2(registry, basic('bob', 'bob-pw'))).status).toBe(200);
    });

    it('speaks ldaps:// verifying the directory against cacert, and refuses one another CA signed', async () => {
      await writeFile(join(dir, 'right.pem'), ca.certPem);
      await writeFile(join(dir, 'wrong.pem'), createCertificateAuthority({ commonName: 'Other CA' }).certPem);
      const verified = await startOurRegistry({
        root: join(dir, 'data'),
        dir: join(dir, 'ldaps'),
        extra: ldapSection(slapd.ldapsUrl as string, { cacert: join(dir, 'right.pem') }),
      });
      expect((await v2(verified, basic('alice', 'alice-pw'))).status).toBe(200);
      const starttls = await startOurRegistry({
        root: join(dir, 'data'),
        dir: join(dir, 'starttls'),
        extra: ldapSection(slapd.url, { starttls: true, cacert: join(dir, 'right.pem') }),
      });
      expect((await v2(starttls, basic('alice', 'alice-pw'))).status).toBe(200);
      const untrusted = await startOurRegistry({
        root: join(dir, 'data'),
        dir: join(dir, 'ldaps-wrong'),
        extra: ldapSection(slapd.ldapsUrl as string, { cacert: join(dir, 'wrong.pem') }),
      });
      const res = await v2(untrusted, basic('alice', 'alice-pw'));
      expect(res.status).toBe(503);
      expect(await logged(untrusted, /directory ldaps:\/\/\S+ unavailable: [^"]*certificate/i)).toBe(true);
    });

    it('through the token server: directory groups in the ACL decide who pushes where', async () => {
      const tokens = await startTokenServer(
        join(dir, 'tokens'),
        'registry',
        {
          ldap: {
            url: slapd.url,
            binddn: SERVICE_DN,
            bindpassword: 'service-pw',
            userbase: SUFFIX,
            groupbase: `ou=groups,${SUFFIX}`,
          },
        },
        [
          { groups: [`cn=ops,ou=groups,${SUFFIX}`], name: 'ops/*', actions: ['pull', 'push'] },
          { groups: ['ops'], name: 'library/*', actions: ['pull', 'push'] },
          { groups: ['dev'], name: 'library/*', actions: ['pull'] },
        ],
      );
      const registry = await startOurRegistry({
        root: join(dir, 'token-data'),
        dir: join(dir, 'token'),
        extra: { auth: tokens.auth },
      });
      const host = new URL(registry.url).host;
      await push(host, 'alice:alice-pw', 'ops/app:v1');
      await push(host, 'alice:alice-pw', 'library/x:v1');
      const denied = await push(host, 'bob:bob-pw', 'ops/app:v2').catch((err: Error) => err);
      expect(String(denied)).toMatch(/denied|unauthorized|authentication required/i);
      expect(await pull(host, 'bob:bob-pw', 'library/x:v1')).toBe(await ociManifestDigest(layout, 'v1'));
      // A wrong directory password gets no token at all.
      const refused = await fetch(`${tokens.url}/token?service=registry&scope=repository:library/x:pull`, {
        headers: { authorization: basic('bob', 'nope') },
      });
      expect(refused.status).toBe(401);
    });

    it('the charm: auth-ldap-* through the model; a bad filter blocks the unit naming it, the registry serving on', async () => {
      const m = await newModel();
      try {
        const ok = async (...args: string[]) =>
          expect((await m.model(...args)).exitCode, args.join(' ')).toBe(0);
        await ok('deploy', 'docker-registry');
        await ok(
          'config',
          'docker-registry',
          `auth-ldap-url=${slapd.url}`,
          `auth-ldap-bind-dn=${SERVICE_DN}`,
          'auth-ldap-bind-password=service-pw',
          `auth-ldap-user-base=${SUFFIX}`,
        );
        const unit = await m.unit('docker-registry/0');
        expect(unit['workload-status'].current).toBe('active');
        const host = `${unit['public-address']}:5000`;
        await push(host, 'alice:alice-pw', 'ops/app:v1');
        expect(
          (await fetch(`http://${host}/v2/`, { headers: { authorization: basic('bob', 'nope') } })).status,
        ).toBe(401);
        await ok('config', 'docker-registry', 'auth-ldap-user-filter=(uid=alice)');
        const blocked = (await m.unit('docker-registry/0'))['workload-status'];
        expect(blocked.current).toBe('blocked');
        expect(blocked.message).toContain('auth-ldap-user-filter');
        expect(blocked.message).not.toContain('service-pw');
        expect(
          (await fetch(`http://${host}/v2/`, { headers: { authorization: basic('bob', 'bob-pw') } })).status,
        ).toBe(200);
      } finally {
        await m.destroy();
        await rm(m.dir, { recursive: true, force: true });
      }
    });
  },
);
