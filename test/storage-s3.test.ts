import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { runDriverContract } from '@regop/storage/contract';
import { parseS3Options, S3Driver } from '@regop/storage-s3';
import { describe, expect, it } from 'vitest';
import { describeWithPeers } from './support/peers.js';
import { SWIFT_BINARIES, startSwift } from './support/swift.js';

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

describe('s3 driver options', () => {
  it('names the key that is wrong', () => {
    expect(() => parseS3Options({ region: 'r', bucket: 'b', chunksize: '1024' })).toThrow(
      /storage\.s3\.chunksize: must be at least 5 MiB/,
    );
    expect(() => parseS3Options({ bucket: 'b' })).toThrow(/storage\.s3\.region/);
    expect(parseS3Options({ region: 'r', bucket: 'b', secure: 'false', chunksize: '6291456' })).toMatchObject(
      { secure: false, chunksize: 6291456 },
    );
  });
});
