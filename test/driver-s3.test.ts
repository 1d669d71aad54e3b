import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { SWIFT_BINARIES, startSwift } from '@regop/peers';
import { runDriverContract } from '@regop/storage/contract';
import { parseS3Options, S3Driver } from '@regop/storage-s3';
import { expect, it } from 'vitest';
import { startForwardProxy } from './support/forward-proxy.js';
import { describeWithPeers } from './support/peers.js';

// The driver contract, unchanged, against a real S3 API: OpenStack Swift's s3api.
describeWithPeers(SWIFT_BINARIES, 's3 driver on Swift s3api', () => {
  const options = (regionendpoint: string) =>
    parseS3Options({
      region: 'us-east-1',
      regionendpoint,
      bucket: 'contract',
      accesskey: 'test:tester',
      secretkey: 'testing',
      forcepathstyle: true,
      rootdirectory: '/registry-root',
      // The smallest chunks S3 allows, so the tests cross part boundaries.
      chunksize: 5 * 1024 * 1024,
      multipartcopythresholdsize: 5 * 1024 * 1024,
      multipartcopychunksize: 5 * 1024 * 1024,
    });
  runDriverContract(
    's3',
    async () => {
      const swift = await startSwift();
      const driver = new S3Driver({
        ...options(swift.s3Endpoint),
        accesskey: swift.user,
        secretkey: swift.key,
      });
      await driver.client.send(new CreateBucketCommand({ Bucket: 'contract' }));
      return {
        driver,
        cleanup: async () => {
          driver.client.destroy();
          await swift.stop();
        },
      };
    },
    // Nothing listens on port 1.
    { unreachable: () => new S3Driver(options('http://127.0.0.1:1')) },
  );
});

describeWithPeers(SWIFT_BINARIES, 's3 writer kept open across appends', () => {
  it('adds each append as parts, copying nothing, and commits what was written', async () => {
    const swift = await startSwift();
    const driver = new S3Driver(
      parseS3Options({
        region: 'us-east-1',
        regionendpoint: swift.s3Endpoint,
        bucket: 'appends',
        accesskey: swift.user,
        secretkey: swift.key,
        forcepathstyle: true,
        chunksize: 5 * 1024 * 1024,
      }),
    );
    try {
      await driver.client.send(new CreateBucketCommand({ Bucket: 'appends' }));
      const sent = new Map<string, number>();
      driver.client.middlewareStack.add(
        (next, context) => (args) => {
          sent.set(context.commandName ?? '', (sent.get(context.commandName ?? '') ?? 0) + 1);
          return next(args);
        },
        { step: 'initialize' },
      );
      // A chunked push as docker's clients make it: PATCHes of 8 MiB, then a PUT without a body.
      const chunks = Array.from({ length: 6 }, () => randomBytes(8 * 1024 * 1024));
      await driver.putContent('/upload/data', '');
      for (const chunk of chunks) {
        const w = await driver.writer('/upload/data', true);
        await pipeline(Readable.from([chunk]), w);
        expect((await driver.stat('/upload/data')).size).toBe(w.size);
      }
      const last = await driver.writer('/upload/data', true);
      await last.commit();
      expect(last.size).toBe(6 * 8 * 1024 * 1024);
      expect(sent.get('UploadPartCopyCommand') ?? 0).toBe(0);
      expect(sent.get('UploadPartCommand')).toBe(6);
      expect((await driver.getContent('/upload/data')).equals(Buffer.concat(chunks))).toBe(true);

      // PATCHes below S3's 5 MiB minimum still append correctly (the small last part is rewritten).
      const small = Array.from({ length: 3 }, (_, i) => randomBytes(1024 * 1024 + i));
      for (const chunk of small) {
        const w = await driver.writer('/small/data', true);
        await pipeline(Readable.from([chunk]), w);
      }
      const closing = await driver.writer('/small/data', true);
      await closing.commit();
      expect((await driver.getContent('/small/data')).equals(Buffer.concat(small))).toBe(true);
    } finally {
      driver.client.destroy();
      await swift.stop();
    }
  });
});

describeWithPeers(SWIFT_BINARIES, 's3 driver behind a forward proxy', () => {
  it('reaches the endpoint through HTTP_PROXY unless NO_PROXY names it', async () => {
    const swift = await startSwift();
    const forward = await startForwardProxy();
    const saved = Object.fromEntries(['HTTP_PROXY', 'NO_PROXY'].map((name) => [name, process.env[name]]));
    const driverWith = (env: { HTTP_PROXY: string; NO_PROXY: string }) => {
      // The driver reads the environment when it is made, as the registry's process has it from the charm.
      Object.assign(process.env, env);
      return new S3Driver(
        parseS3Options({
          region: 'us-east-1',
          regionendpoint: swift.s3Endpoint,
          bucket: 'proxied',
          accesskey: swift.user,
          secretkey: swift.key,
          forcepathstyle: true,
        }),
      );
    };
    try {
      const proxied = driverWith({ HTTP_PROXY: forward.url, NO_PROXY: '' });
      await proxied.client.send(new CreateBucketCommand({ Bucket: 'proxied' }));
      await proxied.putContent('/through/proxy', 'bytes');
      expect((await proxied.getContent('/through/proxy')).toString()).toBe('bytes');
      const endpointHost = new URL(swift.s3Endpoint).host;
      expect(forward.seen.some((line) => line.includes(`${endpointHost}/proxied/through/proxy`))).toBe(true);
      expect(forward.seen.every((line) => line.includes(endpointHost))).toBe(true);
      proxied.client.destroy();

      const seenBefore = forward.seen.length;
      const direct = driverWith({ HTTP_PROXY: forward.url, NO_PROXY: '127.0.0.1' });
      expect((await direct.getContent('/through/proxy')).toString()).toBe('bytes');
      expect(forward.seen.length).toBe(seenBefore);
      direct.client.destroy();
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      await forward.close();
      await swift.stop();
    }
  });
});
