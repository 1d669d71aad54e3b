import { describe, expect, it } from 'vitest';
import { parseDuration } from './duration.js';
import { ConfigError, parseConfigText } from './load.js';

const BASE = `
version: 0.1
storage:
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
`;

describe('config', () => {
  it('reads distribution config.yml as registry:2 ships it', () => {
    const config = parseConfigText(`
version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
  maintenance:
    uploadpurging: { enabled: true, age: 168h, interval: 24h, dryrun: false }
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
  debug: { addr: 127.0.0.1:5001, prometheus: { enabled: true, path: /metrics } }
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
notifications:
  endpoints: []
`);
    expect(config.storage.filesystem?.rootdirectory).toBe('/var/lib/registry');
    expect(config.storage.maintenance?.uploadpurging?.age).toBe(168 * 3_600_000);
    expect(config.health?.storagedriver?.interval).toBe(10_000);
    expect(config.http?.headers).toEqual({ 'X-Content-Type-Options': ['nosniff'] });
  });

  it('applies REGISTRY_* overrides with YAML-typed values', () => {
    const config = parseConfigText(BASE, {
      REGISTRY_HTTP_ADDR: '127.0.0.1:6000',
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/srv/registry',
      REGISTRY_STORAGE_DELETE_ENABLED: 'true',
      REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED: 'true',
      REGISTRY_HTTP_RELATIVEURLS: 'true',
      REGISTRY_LOG_LEVEL: 'debug',
      HOME: '/root',
    });
    expect(config.http?.addr).toBe('127.0.0.1:6000');
    expect(config.storage.filesystem?.rootdirectory).toBe('/srv/registry');
    expect(config.storage.delete?.enabled).toBe(true);
    expect(config.storage.maintenance?.readonly?.enabled).toBe(true);
    expect(config.http?.relativeurls).toBe(true);
    expect(config.log?.level).toBe('debug');
  });

  it('switches the storage driver with REGISTRY_STORAGE', () => {
    const config = parseConfigText(BASE, { REGISTRY_STORAGE: 'inmemory' });
    expect(config.storage.filesystem).toBeUndefined();
    expect(config.storage.inmemory).toEqual({});
  });

  const invalid: [string, string, RegExp][] = [
    ['an unknown key', `${BASE}  adr: :5000\n`, /http\.adr: unknown key/],
    ['a bad type', BASE.replace('addr: :5000', 'relativeurls: yes-please'), /http\.relativeurls: .*boolean/],
    [
      'a bad duration',
      `${BASE}health:\n  storagedriver:\n    interval: soon\n`,
      /health\.storagedriver\.interval: not a duration/,
    ],
    [
      'two drivers',
      `${BASE}  inmemory: {}\n`
        .replace('http:\n  addr: :5000\n  inmemory: {}', 'http:\n  addr: :5000')
        .replace('storage:\n', 'storage:\n  inmemory: {}\n'),
      /storage: only one storage driver/,
    ],
    ['no version', BASE.replace('version: 0.1', ''), /version: /],
    ['bad YAML', 'version: [', /not valid YAML/],
    ['a bad log level', `${BASE}log:\n  level: loud\n`, /log\.level: /],
    [
      'an ldap url of another scheme',
      `${BASE}auth:\n  ldap: { realm: r, url: http://dir, binddn: cn=x, bindpassword: p, userbase: dc=x }\n`,
      /auth\.ldap\.url: must be ldap:\/\/HOST/,
    ],
    [
      'an ldap filter without the user name',
      `${BASE}auth:\n  ldap: { realm: r, url: ldap://dir, binddn: cn=x, bindpassword: p, userbase: dc=x, userfilter: "(uid=alice)" }\n`,
      /auth\.ldap\.userfilter: must be a filter in parentheses naming \{username\}/,
    ],
    [
      'an ldap timeout of 0',
      `${BASE}auth:\n  ldap: { realm: r, url: ldaps://dir, binddn: cn=x, bindpassword: p, userbase: dc=x, timeout: 0s }\n`,
      /auth\.ldap\.timeout: must be a duration of at least 1ms/,
    ],
    [
      'starttls on ldaps',
      `${BASE}auth:\n  ldap: { realm: r, url: ldaps://dir, starttls: true, binddn: cn=x, bindpassword: p, userbase: dc=x }\n`,
      /auth\.ldap\.starttls: starttls is for ldap:\/\/ URLs/,
    ],
    ['an unknown ui key', `${BASE}ui:\n  enabled: true\n  colour: blue\n`, /ui\.colour: unknown key/],
    ['a ui path under /v2', `${BASE}ui:\n  path: /v2/ui\n`, /ui\.path: must not be under \/v2/],
    ['a ui path not a path', `${BASE}ui:\n  path: ui/\n`, /ui\.path: must be a path such as \/ui/],
  ];
  it.each(invalid)('names the key for %s', (_what, text, message) => {
    expect(() => parseConfigText(text)).toThrow(ConfigError);
    expect(() => parseConfigText(text)).toThrow(message);
  });

  it('parses Go durations', () => {
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration(1_000_000_000)).toBe(1000);
    expect(parseDuration('10')).toBeUndefined();
    expect(parseDuration('5 minutes')).toBeUndefined();
  });
});
