import { describe, expect, it, vi } from 'vitest';
import { AuthFailure } from './access.js';
import { BasicCheck } from './basic.js';

const basic = (user: string, password: string) => ({
  headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
});
const code = (err: unknown) => (err as AuthFailure).code;

describe('BasicCheck', () => {
  it('asks the source once for credentials it verified, and again for another password', async () => {
    const verify = vi.fn(async (_user: string, password: string) => password === 'right');
    const check = new BasicCheck({ realm: 'r', cacheTtlMs: 60_000 });
    expect(await check.authorize(basic('alice', 'right'), verify)).toEqual({ user: 'alice' });
    expect(await check.authorize(basic('alice', 'right'), verify)).toEqual({ user: 'alice' });
    expect(verify).toHaveBeenCalledTimes(1);
    expect(await check.authorize(basic('alice', 'wrong'), verify).catch(code)).toBe('UNAUTHORIZED');
    check.forget();
    await check.authorize(basic('alice', 'right'), verify);
    expect(verify).toHaveBeenCalledTimes(3);
  });

  it('counts failures under the user key, so one user spelled many ways has one budget', async () => {
    const check = new BasicCheck({
      realm: 'r',
      cacheTtlMs: 60_000,
      rateLimit: { burst: 2, perMinute: 1 },
      userKey: (user) => user.toLowerCase().trim(),
    });
    const attempt = (user: string) => check.authorize(basic(user, 'guess'), async () => false).catch(code);
    expect(await attempt('alice')).toBe('UNAUTHORIZED');
    expect(await attempt('ALICE ')).toBe('UNAUTHORIZED');
    expect(await attempt('Alice')).toBe('TOOMANYREQUESTS');
    expect(await attempt('bob')).toBe('UNAUTHORIZED');
    expect(new AuthFailure('TOOMANYREQUESTS', 'x').status).toBe(429);
  });
});
