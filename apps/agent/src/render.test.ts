import { describe, expect, it } from 'vitest';
import { formatImages, type ImageRow, parseImageOptions } from './actions/images.js';
import { defaultTag, parseSource, platformCopyArgs } from './actions/push.js';
import { parseCharmConfig } from './options.js';
import { renderRegistryConfig } from './render.js';
import { storageKind } from './storage.js';
import { CHARM_DEFAULTS, charmConfig as defaults } from './test-support.js';

const render = (over: Record<string, unknown>) =>
  renderRegistryConfig(defaults(over), { bindAddress: '0.0.0.0', root: (p) => p, leader: true });

describe('config.yml rendering', () => {
  it("renders a pull-through cache from the cache-* options, as Canonical's charm does", () => {
    expect(render({}).proxy).toBeUndefined();
    expect(
      render({
        'cache-remoteurl': 'https://registry-1.docker.io',
        'cache-username': 'u',
        'cache-password': 'p',
      }).proxy,
    ).toEqual({ remoteurl: 'https://registry-1.docker.io', username: 'u', password: 'p' });
  });

  it('schedules collection with retention on the leader only, and blocks on bad gc options naming them', () => {
    const rules =
      '- repositories: "team/*"\n  keeplast: 5\n  keeptags: ["^latest$"]\n  untaggedolderthan: 168h\n';
    const over = { 'gc-interval': '24h', 'retention-rules': rules };
    const maintenance = (leader: boolean) =>
      (
        renderRegistryConfig(defaults(over), { bindAddress: '0.0.0.0', root: (p) => p, leader }).storage as {
          maintenance: Record<string, unknown>;
        }
      ).maintenance;
    expect(maintenance(true).garbagecollect).toEqual({
      enabled: true,
      interval: '24h',
      // As written: the registry reads the durations.
      retention: [{ repositories: 'team/*', keeplast: 5, keeptags: ['^latest$'], untaggedolderthan: '168h' }],
    });
    expect(maintenance(false).garbagecollect).toMatchObject({ enabled: false });
    // Without the options, no section at all.
    expect((render({}).storage as { maintenance: Record<string, unknown> }).maintenance.garbagecollect).toBe(
      undefined,
    );

    const problems = (raw: Record<string, unknown>) =>
      parseCharmConfig({ ...CHARM_DEFAULTS, ...raw }).problems;
    expect(problems({ 'gc-interval': 'daily' })).toEqual([
      {
        option: 'gc-interval',
        reason: 'must be a duration such as 24h or 30m (empty: no scheduled collection)',
      },
    ]);
    expect(problems({ 'retention-rules': '- repositories: "a/*"\n  keeplast: -1\n' })[0]).toMatchObject({
      option: 'retention-rules',
      reason: expect.stringMatching(/^must be a YAML list of retention rules \(rule 1 keeplast: /),
    });
    expect(
      problems({ 'retention-rules': '- repositories: x\n  keeptags: ["(unclosed"]\n' })[0]?.reason,
    ).toMatch(/rule 1 keeptags\.0: not a regular expression/);
    expect(problems({ 'retention-rules': '- keeplast: 5\n' })[0]?.reason).toMatch(/rule 1 repositories/);
    expect(problems({ 'retention-rules': 'key: [unclosed' })[0]?.reason).toMatch(/^is not YAML/);
  });

  it('chooses swift when an auth URL is set, s3 with a region and bucket, else the filesystem', () => {
    expect(storageKind(defaults())).toBe('filesystem');
    expect(storageKind(defaults({ 'storage-s3-region': 'r', 'storage-s3-bucket': 'b' }))).toBe('s3');
    expect(storageKind(defaults({ 'storage-s3-region': 'r' }))).toBe('filesystem');
    expect(
      storageKind(
        defaults({
          'storage-swift-authurl': 'https://ks/v3',
          'storage-s3-region': 'r',
          'storage-s3-bucket': 'b',
        }),
      ),
    ).toBe('swift');
    expect(
      render({ 'storage-swift-authurl': 'https://ks/v3', 'storage-swift-domain': 'd' }).storage,
    ).toMatchObject({
      swift: { authurl: 'https://ks/v3', domain: 'd' },
      redirect: { disable: true },
    });
  });

  it("honours the s3 options Canonical's charm drops: skip-verify, skip-v4-auth, objectacl", () => {
    const storage = render({
      'storage-s3-region': 'r',
      'storage-s3-bucket': 'b',
      'storage-s3-skip-verify': true,
      'storage-s3-objectacl': 'bucket-owner-full-control',
    }).storage as { s3: Record<string, unknown> };
    expect(storage.s3).toMatchObject({
      skipverify: true,
      v4auth: false,
      objectacl: 'bucket-owner-full-control',
    });
    const v4 = render({
      'storage-s3-region': 'r',
      'storage-s3-bucket': 'b',
      'storage-s3-skip-v4-auth': false,
    }).storage as {
      s3: Record<string, unknown>;
    };
    expect(v4.s3.v4auth).toBe(true);
  });

  it('maps delete, read-only, cache, redirect, http host, metrics and token auth', () => {
    const config = render({
      'storage-delete': true,
      'storage-read-only': true,
      'storage-cache': 'disabled',
      'storage-redirect-disable': false,
      'http-host': 'https://registry.example.com/',
      'prometheus-metrics': true,
      'auth-token-realm': 'https://auth.example.com/token',
      'auth-token-service': 'registry',
      'auth-token-issuer': 'issuer',
      'auth-basic-password': 'ignored with a token realm',
    });
    expect(config.storage).toMatchObject({
      delete: { enabled: true },
      maintenance: { readonly: { enabled: true } },
      redirect: { disable: false },
    });
    expect((config.storage as Record<string, unknown>).cache).toBeUndefined();
    expect(config.http).toMatchObject({
      host: 'https://registry.example.com/',
      debug: { prometheus: { enabled: true } },
    });
    expect(config.auth).toEqual({
      token: {
        realm: 'https://auth.example.com/token',
        service: 'registry',
        issuer: 'issuer',
        rootcertbundle: '/etc/docker/registry/auth_token.pem',
      },
    });
  });
});

describe('auth-ldap', () => {
  it('renders auth.ldap (the token realm winning over it), and no htpasswd user beside it', () => {
    const ldap = {
      'auth-ldap-url': 'ldaps://a.example ldaps://b.example',
      'auth-ldap-bind-dn': 'cn=registry,dc=example,dc=org',
      'auth-ldap-bind-password': 'service-pw',
      'auth-ldap-user-base': 'ou=people,dc=example,dc=org',
    };
    expect(render(ldap).auth).toEqual({
      ldap: {
        realm: 'basic-realm',
        url: ['ldaps://a.example', 'ldaps://b.example'],
        binddn: 'cn=registry,dc=example,dc=org',
        bindpassword: 'service-pw',
        userbase: 'ou=people,dc=example,dc=org',
        userfilter: '(uid={username})',
      },
    });
    expect(render({ ...ldap, 'auth-ldap-group-base': 'ou=groups,dc=example,dc=org' }).auth).toMatchObject({
      ldap: { groupbase: 'ou=groups,dc=example,dc=org', groupfilter: '(member={dn})' },
    });
    expect(Object.keys(render({ ...ldap, 'auth-token-realm': 'https://auth/token' }).auth as object)).toEqual(
      ['token'],
    );
  });
});

describe('the web UI', () => {
  it('is off unless ui-enabled, and carries ui-title', () => {
    expect(render({}).ui).toBeUndefined();
    expect(render({ 'ui-enabled': true, 'ui-title': 'Public mirror' }).ui).toEqual({
      enabled: true,
      path: '/ui',
      title: 'Public mirror',
    });
  });
});

describe('push action references', () => {
  it('reads registry references, OCI layouts and docker archives', () => {
    expect(parseSource('127.0.0.1:5001/upstream/only:v2')).toMatchObject({
      ref: 'docker://127.0.0.1:5001/upstream/only:v2',
      path: 'upstream/only',
      version: 'v2',
      loopback: true,
    });
    expect(parseSource('ubuntu')).toMatchObject({
      ref: 'docker://docker.io/ubuntu:latest',
      path: 'ubuntu',
      version: 'latest',
    });
    expect(parseSource('https://k8s.gcr.io/pause-amd64:3.1')).toMatchObject({
      path: 'pause-amd64',
      version: '3.1',
      loopback: false,
    });
    expect(parseSource('oci:/images/layout:v1')).toMatchObject({
      ref: 'oci:/images/layout:v1',
      path: 'layout',
      version: 'v1',
    });
    expect(parseSource('docker-archive:/tmp/app.tar')).toMatchObject({ path: 'app', version: 'latest' });
    expect(() => parseSource('not a reference')).toThrow(/not an image reference/);
  });

  it("tags net_location/name:version, the location from http-host (Canonical's reads a missing http_config)", () => {
    const source = parseSource('k8s.gcr.io/pause-amd64:3.1');
    expect(defaultTag(defaults(), '10.0.0.5', source)).toBe('10.0.0.5:5000/pause-amd64:3.1');
    expect(
      defaultTag(defaults({ 'http-host': 'https://registry.example.com:8443/' }), '10.0.0.5', source),
    ).toBe('registry.example.com:8443/pause-amd64:3.1');
  });
});

describe('push platforms and the images table', () => {
  it('copies every platform of an index unless one is named', () => {
    expect(platformCopyArgs('')).toEqual(['--multi-arch=all']);
    expect(platformCopyArgs('linux/arm/v7')).toEqual([
      '--multi-arch=system',
      '--override-os=linux',
      '--override-arch=arm',
      '--override-variant=v7',
    ]);
    expect(() => platformCopyArgs('arm64')).toThrow(/expected OS\/ARCH/);
  });

  it('shows the config digest as IMAGE ID, as docker does, and --quiet once per image', () => {
    const row = (tag: string): ImageRow => ({
      repository: 'me/app',
      tag,
      digest: 'sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
      id: 'sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc',
      created: '2026-01-01T00:00:00Z',
      size: 2_500_000,
    });
    const rows = [row('v1'), row('latest')];
    const table = formatImages(rows, parseImageOptions(''));
    expect(table.split('\n')[1]).toMatch(/^me\/app\s+v1\s+cccccccccccc\s+2026-01-01T00:00:00Z\s+2.50MB$/);
    expect(formatImages(rows, parseImageOptions('--quiet'))).toBe('cccccccccccc');
    expect(formatImages(rows, parseImageOptions('-q --no-trunc'))).toBe(rows[0]?.id);
  });
});
