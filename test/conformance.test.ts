/**
 * The OCI distribution-spec conformance suite against this registry, every API and the sparse-data checks on:
 * any failed case fails this test, named. The suite is a Go binary built from the spec's repository (see its
 * README beside it); where it is absent (a user's clone) this test is skipped, loudly.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from '@regop/peers';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, startOurRegistry } from './support/registries.js';

const SUITE = [
  process.env.OCI_CONFORMANCE,
  join(REPO_ROOT, '../shared/tools/oci-conformance/conformance'),
  '/work/shared/tools/oci-conformance/conformance',
].find((path): path is string => !!path && existsSync(path));

/** Every API and optional check on, as the suite's README there says this project runs it. */
const APIS = [
  'PULL',
  'PUSH',
  'TAGS_LIST',
  'REFERRER',
  'TAGS_DELETE',
  'MANIFESTS_DELETE',
  'BLOBS_DELETE',
  'BLOBS_ATOMIC',
  'MANIFESTS_ATOMIC',
  'TAGS_ATOMIC',
  'BLOBS_MOUNT_ANONYMOUS',
  'BLOBS_UPLOAD_CANCEL',
  'BLOBS_DIGEST_HEADER',
  'MANIFESTS_DIGEST_HEADER',
  'MANIFESTS_TAG_PARAM',
];

if (!SUITE)
  process.stderr.write(
    '\n!!! SKIPPED the OCI conformance suite: not found (set OCI_CONFORMANCE to its binary, or keep ../shared/tools/oci-conformance beside the clone)\n\n',
  );

describe.skipIf(!SUITE)('the OCI distribution-spec conformance suite', () => {
  let dir: string;
  let registry: Server;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'regop-conformance-'));
    registry = await startOurRegistry({
      root: join(dir, 'storage'),
      dir,
      // The sparse data pushes indexes without their platforms and images without their layers.
      extra: { validation: { manifests: { indexes: { platforms: 'none' }, layers: 'none' } } },
    });
  });
  afterAll(async () => {
    await registry?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('passes every case, with every API and sparse data on', async () => {
    const results = join(dir, 'results');
    const env: NodeJS.ProcessEnv = {
      OCI_REGISTRY: new URL(registry.url).host,
      OCI_TLS: 'disabled',
      OCI_REPO1: 'conformance/repo1',
      OCI_REPO2: 'conformance/repo2',
      OCI_RESULTS_DIR: results,
      OCI_LOG: 'warn',
      OCI_VERSION: 'dev',
      OCI_DATA_SPARSE: 'true',
      ...Object.fromEntries(APIS.map((api) => [`OCI_API_${api}`, 'true'])),
    };
    const run = await execa(SUITE as string, [], {
      cwd: dir,
      env,
      extendEnv: false,
      reject: false,
      all: true,
      timeout: 600_000,
    });
    const junit = await readFile(join(results, 'junit.xml'), 'utf8').catch(() => '');
    const failed = [...junit.matchAll(/<testcase name="([^"]*)"[^>]*status="failure"/g)].map((m) => m[1]);
    const summary = /<testsuite [^>]*tests="(\d+)"[^>]*failures="(\d+)"/.exec(junit);
    expect(
      failed,
      `failed cases:\n${failed.join('\n')}\n${run.exitCode ? (run.all ?? '').slice(-4000) : ''}`,
    ).toEqual([]);
    expect(Number(summary?.[1]), 'the suite wrote its results').toBeGreaterThan(0);
    expect(run.exitCode).toBe(0);
  });
});
