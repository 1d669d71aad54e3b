import { describe, expect, it } from 'vitest';
import { Acl } from './acl.js';

const pushOps = { type: 'repository', name: 'ops/app', actions: ['pull', 'push'] };

describe('ACL', () => {
  it('grants by directory group, by DN or by name, without regard to case', () => {
    const acl = Acl.parse(`
- groups: ["cn=ops,ou=groups,dc=example,dc=org"]
  name: "ops/*"
  actions: [pull, push]
- groups: [dev]
  name: "ops/*"
  actions: [pull]
`);
    expect(acl.namesGroups).toBe(true);
    expect(acl.allowed('alice', pushOps, ['CN=ops,ou=groups,dc=example,dc=org', 'ops'])).toEqual([
      'pull',
      'push',
    ]);
    expect(acl.allowed('bob', pushOps, ['cn=dev,ou=groups,dc=example,dc=org', 'dev'])).toEqual(['pull']);
    expect(acl.allowed('carol', pushOps, [])).toEqual([]);
    // Groups are for users: an anonymous client is in none.
    expect(acl.allowed(undefined, pushOps, ['dev'])).toEqual([]);
  });

  it('refuses an entry naming more than one of account, groups and anonymous, or none', () => {
    expect(() => Acl.parse('- { account: a, groups: [g], name: x, actions: [pull] }')).toThrow(/one of them/);
    expect(() => Acl.parse('- { name: x, actions: [pull] }')).toThrow(/one of them/);
    expect(Acl.parse('- { account: a, name: x, actions: [pull] }').namesGroups).toBe(false);
  });
});
