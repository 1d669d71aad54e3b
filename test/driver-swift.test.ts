import { SWIFT_BINARIES, type Swift, startSwift } from '@regop/peers';
import { runDriverContract } from '@regop/storage/contract';
import { parseSwiftOptions, SwiftDriver } from '@regop/storage-swift';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithPeers } from './support/peers.js';

// The driver contract, unchanged, against a real OpenStack Swift (tempauth).
describeWithPeers(SWIFT_BINARIES, 'swift driver on OpenStack Swift', () => {
  let swift: Swift;
  const connect = async (over: Record<string, unknown> = {}) => {
    const driver = new SwiftDriver(
      parseSwiftOptions({
        authurl: swift.authUrl,
        username: swift.user,
        password: swift.key,
        container: 'contract',
        prefix: '/registry-prefix',
        // The smallest segments allowed, so the tests cross segment boundaries.
        chunksize: 1024 * 1024,
        ...over,
      }),
    );
    await driver.connect();
    return driver;
  };
  beforeAll(async () => {
    swift = await startSwift();
  }, 120_000);
  afterAll(async () => {
    await swift?.stop();
  });

  runDriverContract(
    'swift',
    async () => {
      const driver = await connect();
      return { driver, cleanup: () => driver.close() };
    },
    {
      // Nothing listens on port 1: the login itself cannot be had.
      unreachable: () =>
        new SwiftDriver(
          parseSwiftOptions({
            authurl: 'http://127.0.0.1:1/auth/v1.0',
            username: 'test:tester',
            password: 'testing',
            container: 'contract',
          }),
        ),
    },
  );

  it('logs in again when the server no longer knows its token', async () => {
    const driver = await connect();
    await driver.putContent('/token/before', 'x');
    const { token } = await driver.client.login();
    await swift.flushTokens();
    const refused = await fetch(await driver.client.url(), {
      method: 'HEAD',
      headers: { 'x-auth-token': token },
    });
    expect(refused.status).toBe(401);
    await driver.putContent('/token/after', 'y');
    expect((await driver.getContent('/token/after')).toString()).toBe('y');
    await driver.close();
  });

  it('creates a missing container and names large objects as distribution does', async () => {
    const driver = await connect({ container: 'fresh', prefix: '' });
    const w = await driver.writer('/docker/registry/v2/big', false);
    w.end(Buffer.alloc(2 * 1024 * 1024 + 1, 7));
    await w.commit();
    const auth = await fetch(swift.authUrl, {
      headers: { 'x-auth-user': swift.user, 'x-auth-key': swift.key },
    });
    const storage = auth.headers.get('x-storage-url') as string;
    const headers = { 'x-auth-token': auth.headers.get('x-auth-token') as string };
    const manifest = await fetch(`${storage}/fresh/files/docker/registry/v2/big`, {
      method: 'HEAD',
      headers,
    });
    expect(manifest.headers.get('content-length')).toBe(String(2 * 1024 * 1024 + 1));
    const segments = manifest.headers.get('x-object-manifest') as string;
    expect(segments).toMatch(/^fresh\/segments\/[0-9a-f]{3}\/[0-9a-f]{37}$/);
    const listed = (await (await fetch(`${storage}/fresh?prefix=segments/`, { headers })).text()).split('\n');
    expect(listed.filter(Boolean).map((n) => n.slice(n.lastIndexOf('/') + 1))).toEqual([
      '0000000000000001',
      '0000000000000002',
      '0000000000000003',
    ]);
    // Deleting the file deletes its segments.
    await driver.delete('/docker');
    expect((await fetch(`${storage}/fresh?prefix=segments/`, { headers })).status).toBe(204);
    await driver.close();
  });
});
