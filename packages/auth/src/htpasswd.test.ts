import { execFileSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verify as bcryptVerify, hash } from '@node-rs/bcrypt';
import bcrypt from 'bcryptjs';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { AuthFailure } from './access.js';
import { apr1 } from './apr1.js';
import { basicCredentials } from './basic.js';
import { HtpasswdAccessController, parseHtpasswd, verifierFor } from './htpasswd.js';

// Every bcrypt check the controller makes is seen (with the hash it checks against), so the tests assert which
// checks run rather than how long they take.
vi.mock('@node-rs/bcrypt', async (original) => {
  const bcrypt = await original<typeof import('@node-rs/bcrypt')>();
  return { ...bcrypt, verify: vi.fn(bcrypt.verify) };
});
const verified = vi.mocked(bcryptVerify);
beforeEach(() => {
  verified.mockClear();
});

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('htpasswd', () => {
  it('computes Apache MD5 (apr1) as htpasswd does', () => {
    // Known answer: `openssl passwd -apr1 -salt saltsalt password`.
    expect(apr1('password', 'saltsalt')).toBe('$apr1$saltsalt$yAAkm4libquA.ZWLHbSBq/');
  });

  it('verifies bcrypt ($2y$, $2a$, $2b$), apr1 and SHA1, and refuses crypt and plain text', async () => {
    const b = bcrypt.hashSync('secret', 4);
    for (const hash of [b, b.replace('$2b$', '$2y$'), b.replace('$2b$', '$2a$')]) {
      const verify = verifierFor(hash);
      expect(typeof verify).toBe('function');
      if (typeof verify === 'function') {
        expect(await verify('secret')).toBe(true);
        expect(await verify('Secret')).toBe(false);
      }
    }
    const md5 = verifierFor(apr1('secret', 'abcdefgh'));
    expect(typeof md5 === 'function' && (await md5('secret')) && !(await md5('nope'))).toBe(true);
    const sha = verifierFor('{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ='); // "secret"
    expect(typeof sha === 'function' && (await sha('secret')) && !(await sha('secrets'))).toBe(true);
    expect(verifierFor('abJnggxhB/yWI')).toMatch(/crypt/);
    expect(verifierFor('secret')).toMatch(/plain/);
    const { users, refused } = parseHtpasswd(`ok:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\nplain:secret\nbroken\n`);
    expect([...users.keys()]).toEqual(['ok']);
    expect(refused).toEqual([
      'line 2 (user plain): plain-text passwords are not supported',
      'line 3: not user:hash',
    ]);
  });

  it.skipIf(!hasHtpasswd())('accepts what Apache htpasswd -B, -m and -s write', async () => {
    for (const flag of ['-B', '-m', '-s']) {
      const line = execFileSync('htpasswd', ['-nb', flag, 'alice', 'pa:ss wörd']).toString().trim();
      const verify = parseHtpasswd(line).users.get('alice');
      expect(await verify?.('pa:ss wörd'), flag).toBe(true);
      expect(await verify?.('pa:ss word'), flag).toBe(false);
    }
  });

  it('parses Basic credentials, refusing malformed ones', () => {
    expect(basicCredentials(basic('bob', 'a:b'))).toEqual({ user: 'bob', password: 'a:b' });
    expect(basicCredentials('Basic ')).toBeUndefined();
    expect(basicCredentials(`Basic ${Buffer.from('nocolon').toString('base64')}`)).toBeUndefined();
    expect(basicCredentials('Bearer abc')).toBeUndefined();
    expect(basicCredentials(`Basic ${'A'.repeat(10_000)}`)).toBeUndefined();
  });

  it('challenges, refuses wrong passwords and unknown users alike, and re-reads the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'regop-htpasswd-'));
    const path = join(dir, 'htpasswd');
    await writeFile(path, `alice:${bcrypt.hashSync('right', 4)}\n`);
    const controller = new HtpasswdAccessController({ realm: 'Registry "x"', path });
    await controller.load();
    const refused = async (authorization?: string) => {
      const err = await controller
        .authorize({ headers: authorization ? { authorization } : {} }, [])
        .catch((e) => e);
      expect(err).toBeInstanceOf(AuthFailure);
      expect(err.status).toBe(401);
      expect(err.challenge).toBe('Basic realm="Registry \\"x\\""');
      return err.message as string;
    };
    expect(await refused()).toBe('authentication required');
    expect(await refused(basic('alice', 'wrong'))).toBe('invalid username or password');
    expect(await refused(basic('mallory', 'right'))).toBe('invalid username or password');
    expect(await refused('Basic !!!')).toBe('malformed Basic credentials');
    expect(await controller.authorize({ headers: { authorization: basic('alice', 'right') } }, [])).toEqual({
      user: 'alice',
    });

    await new Promise((r) => setTimeout(r, 1100));
    await writeFile(path, `bob:${bcrypt.hashSync('b', 4)}\n`);
    expect(await controller.authorize({ headers: { authorization: basic('bob', 'b') } }, [])).toEqual({
      user: 'bob',
    });
    // A remembered verification goes with the file it was made against.
    expect(await refused(basic('alice', 'right'))).toBe('invalid username or password');
  });

  it('rate-limits failed logins per client address and per user, logs it, and recovers', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'regop-htpasswd-'));
    const path = join(dir, 'htpasswd');
    await writeFile(
      path,
      `alice:${await hash('right', { cost: 10 })}\nbob:${await hash('b', { cost: 4 })}\n`,
    );
    const limited: unknown[] = [];
    const controller = new HtpasswdAccessController({
      realm: 'r',
      path,
      // Three at once, one more every half second.
      rateLimit: { burst: 3, perMinute: 120 },
      onLimited: (what) => limited.push(what),
    });
    await controller.load();
    const attempt = (user: string, password: string, address: string) =>
      controller.authorize({ headers: { authorization: basic(user, password) }, address }, []).then(
        (grant) => grant,
        (err: AuthFailure) => err,
      );
    for (let i = 0; i < 3; i++)
      expect(await attempt('alice', 'guess', '10.0.0.1')).toMatchObject({ status: 401 });
    expect(limited).toEqual([{ address: '10.0.0.1', user: 'alice', retryAfterSeconds: 1 }]);
    // Refused before bcrypt runs: even the right password.
    const checks = verified.mock.calls.length;
    const refused = await attempt('alice', 'right', '10.0.0.1');
    expect(verified.mock.calls.length).toBe(checks);
    expect(refused).toMatchObject({ status: 429, code: 'TOOMANYREQUESTS', retryAfterSeconds: 1 });
    // The user is limited from any address; other users from other addresses are not.
    expect(await attempt('alice', 'right', '10.0.0.2')).toMatchObject({ status: 429 });
    expect(await attempt('bob', 'b', '10.0.0.2')).toEqual({ user: 'bob' });
    // Guessing other users' passwords from the same address is limited by the address; credentials verified
    // in the last minute still pass (a guessing flood does not lock out a client that already logged in).
    expect(await attempt('bob', 'guess', '10.0.0.1')).toMatchObject({ status: 429 });
    expect(await attempt('bob', 'b', '10.0.0.1')).toEqual({ user: 'bob' });
    await new Promise((r) => setTimeout(r, 600));
    expect(await attempt('alice', 'right', '10.0.0.1')).toEqual({ user: 'alice' });
  });

  it('checks an unknown user against a decoy as costly as the dearest hash (at cost 5, 10 and 12)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'regop-htpasswd-'));
    for (const cost of [5, 10, 12]) {
      const path = join(dir, `htpasswd-${cost}`);
      await writeFile(
        path,
        `cheap:${await hash('x', { cost: 4 })}\nalice:${await hash('right', { cost })}\n`,
      );
      // No limit on failures here: this is about what each one costs.
      const controller = new HtpasswdAccessController({ realm: 'r', path, rateLimit: false });
      await controller.load();
      verified.mockClear();
      for (const user of ['alice', 'mallory'])
        await expect(
          controller.authorize({ headers: { authorization: basic(user, 'nope') } }, []),
        ).rejects.toMatchObject({ status: 401, message: 'invalid username or password' });
      // One bcrypt check each, the unknown user's at the file's highest cost and against no user's hash.
      const [wrong, unknown] = verified.mock.calls.map(([, against]) => against);
      const prefix = `$2b$${String(cost).padStart(2, '0')}$`;
      expect(wrong?.slice(0, 7)).toBe(prefix);
      expect(unknown?.slice(0, 7)).toBe(prefix);
      expect(unknown).not.toBe(wrong);
    }
  }, 60_000);

  it('pays bcrypt once for credentials sent on every request, and never blocks the event loop', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'regop-htpasswd-'));
    const path = join(dir, 'htpasswd');
    await writeFile(path, `alice:${await hash('right', { cost: 12 })}\n`);
    const controller = new HtpasswdAccessController({ realm: 'r', path });
    await controller.load();
    const authorize = (password: string) =>
      controller.authorize({ headers: { authorization: basic('alice', password) } }, []);
    for (let i = 0; i < 10; i++) expect(await authorize('right')).toEqual({ user: 'alice' });
    expect(verified).toHaveBeenCalledTimes(1);
    // Eight wrong passwords at once: a timer set after them fires before any of them is answered.
    const order: string[] = [];
    const checks = Array.from({ length: 8 }, () => authorize('guess').catch(() => order.push('answered')));
    setTimeout(() => order.push('timer'), 0);
    await Promise.all(checks);
    expect(order[0]).toBe('timer');
    expect(order.filter((o) => o === 'answered')).toHaveLength(8);
  }, 60_000);
});

function hasHtpasswd(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v htpasswd'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
