import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { charmConfigSchema, parseCharmConfig } from './options.js';
import { CHARM_DEFAULTS, CHARM_DIR, charmConfig } from './test-support.js';

const configYaml = parse(await readFile(join(CHARM_DIR, 'config.yaml'), 'utf8')) as {
  options: Record<string, { type: string; default?: unknown }>;
};

describe('the charm options', () => {
  it('are the options config.yaml declares, no more and no fewer', () => {
    expect(Object.keys(charmConfigSchema.shape).sort()).toEqual(Object.keys(configYaml.options).sort());
  });

  it("take their defaults from config.yaml alone: the tests' config is exactly what Juju sends", () => {
    const config = charmConfig();
    for (const [name, spec] of Object.entries(configYaml.options)) {
      const sent = spec.default ?? '';
      // retention-rules is read into the rules it lists; every other option is taken as sent.
      expect(config[name as keyof typeof config], name).toEqual(name === 'retention-rules' ? [] : sent);
    }
    expect(config['auth-basic-user']).toBe('admin');
    expect(config['tls-cert-path']).toBe('/etc/docker/registry/registry.crt');
  });

  it('have no defaults of their own: an option config-get did not send is named', () => {
    const { 'registry-port': _, ...withoutPort } = CHARM_DEFAULTS;
    expect(parseCharmConfig(withoutPort).problems).toEqual([
      { option: 'registry-port', reason: 'must be a number' },
    ]);
  });

  it('name each auth-ldap option that is wrong, and what a directory needs besides its URL', () => {
    const problems = (over: Record<string, unknown>) =>
      parseCharmConfig({ ...CHARM_DEFAULTS, ...over }).problems.map((p) => p.option);
    expect(problems({ 'auth-ldap-url': 'http://ldap.example.org' })[0]).toBe('auth-ldap-url');
    expect(problems({ 'auth-ldap-url': 'ldaps://a.example ldap://b.example:389' })).toEqual([
      'auth-ldap-bind-dn',
      'auth-ldap-bind-password',
      'auth-ldap-user-base',
    ]);
    expect(problems({ 'auth-ldap-user-filter': '(uid=alice)' })).toEqual(['auth-ldap-user-filter']);
    expect(problems({ 'auth-ldap-ca': Buffer.from('not a certificate').toString('base64') })).toEqual([
      'auth-ldap-ca',
    ]);
  });
});
