import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { SWIFT_BINARIES, type Swift, startSwift, stopAll } from '@regop/peers';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithPeers } from './support/peers.js';

// The object-store backend the S3 and Swift drivers are tested against (issue 3): one real Swift, both APIs.
describeWithPeers(SWIFT_BINARIES, 'OpenStack Swift test backend', () => {
  let swift: Swift;
  beforeAll(async () => {
    swift = await startSwift();
  }, 120_000);
  afterAll(async () => {
    await swift?.stop();
    await stopAll();
  });

  it('speaks the Swift API with tempauth', async () => {
    const auth = await fetch(swift.authUrl, {
      headers: { 'x-auth-user': swift.user, 'x-auth-key': swift.key },
    });
    const storage = auth.headers.get('x-storage-url') as string;
    const headers = { 'x-auth-token': auth.headers.get('x-auth-token') as string };
    expect((await fetch(`${storage}/swift-check`, { method: 'PUT', headers })).status).toBe(201);
    expect(
      (await fetch(`${storage}/swift-check/a/b`, { method: 'PUT', headers, body: 'hello' })).status,
    ).toBe(201);
    const list = (await (await fetch(`${storage}/swift-check?format=json`, { headers })).json()) as {
      name: string;
      bytes: number;
    }[];
    expect(list).toMatchObject([{ name: 'a/b', bytes: 5 }]);
  });

  it('speaks S3 through s3api, with the SDK settings Swift needs', async () => {
    const s3 = new S3Client({
      endpoint: swift.s3Endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: swift.user, secretAccessKey: swift.key },
      // Swift's s3api refuses the SDK's default aws-chunked, checksummed uploads (501).
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    await s3.send(new CreateBucketCommand({ Bucket: 's3-check' }));
    await s3.send(new PutObjectCommand({ Bucket: 's3-check', Key: 'docker/registry/v2/x', Body: 'via s3' }));
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 's3-check', Prefix: 'docker/' }));
    expect(listed.Contents?.map((c) => c.Key)).toEqual(['docker/registry/v2/x']);
    const got = await s3.send(new GetObjectCommand({ Bucket: 's3-check', Key: 'docker/registry/v2/x' }));
    expect(await got.Body?.transformToString()).toBe('via s3');
    s3.destroy();
  });

  it('restarts the proxy (for fault tests)', async () => {
    await swift.stopProxy();
    await expect(fetch(swift.authUrl)).rejects.toThrow();
    await swift.startProxy();
    expect(
      (await fetch(swift.authUrl, { headers: { 'x-auth-user': swift.user, 'x-auth-key': swift.key } }))
        .status,
    ).toBe(200);
  });
});
