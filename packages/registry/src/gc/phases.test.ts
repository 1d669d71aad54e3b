/**
 * The collector's I/O phases on a store laid out by hand: the mark reads and decides without writing; the
 * sweep carries out a plan, taking back what a push linked meanwhile; a crashed run's quarantine comes back.
 */
import { BaseDriver, InMemoryDriver } from '@regop/storage';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_MANIFEST_BYTES } from '../content/manifests.js';
import { paths } from '../paths.js';
import { Digest } from '../reference.js';
import { StorageLease } from './lease.js';
import { mark } from './mark.js';
import { policyOf } from './plan.js';
import { ManifestReader } from './references.js';
import { recoverQuarantines, sweep } from './sweep.js';
import type { GcEvent } from './types.js';

const HOUR = 3_600_000;

/** A store written two hours ago: an image tagged app:v1, and an old blob nothing references. */
async function oldStore() {
  const store = BaseDriver.wrap(new InMemoryDriver());
  const put = (path: string, content: string | Buffer) => store.putContent(path, content);
  const blob = async (content: string) => {
    const digest = Digest.of('sha256', Buffer.from(content));
    await put(paths.blobData(digest), content);
    return digest;
  };
  vi.useFakeTimers({ toFake: ['Date'], now: Date.now() - 2 * HOUR });
  const layer = await blob('layer');
  const config = await blob('{}');
  const orphan = await blob('orphan');
  const image = await blob(
    JSON.stringify({ schemaVersion: 2, config: { digest: `${config}` }, layers: [{ digest: `${layer}` }] }),
  );
  for (const d of [layer, config, orphan]) await put(paths.layerLink('app', d), `${d}`);
  await put(paths.revisionLink('app', image), `${image}`);
  await put(paths.tagCurrentLink('app', 'v1'), `${image}`);
  vi.useRealTimers();
  return { store, layer, config, orphan, image };
}

const exists = async (store: BaseDriver, path: string) =>
  store.stat(path).then(
    () => true,
    () => false,
  );

afterEach(() => {
  vi.useRealTimers();
});

describe('the mark', () => {
  it('reads the store into a plan and writes nothing', async () => {
    const { store, layer, config, orphan, image } = await oldStore();
    const writes = [
      vi.spyOn(store, 'putContent'),
      vi.spyOn(store, 'move'),
      vi.spyOn(store, 'delete'),
      vi.spyOn(store, 'writer'),
    ];
    const events: GcEvent[] = [];
    const plan = await mark(
      store,
      new ManifestReader(store),
      policyOf({ deleteUntagged: true }, Date.now()),
      (e) => events.push(e),
    );
    expect([...plan.marked].sort()).toEqual([`${image}`, `${layer}`, `${config}`].sort());
    expect(plan.candidates.map((b) => b.digest)).toEqual([orphan]);
    expect(plan.tagged.get('app')).toMatchObject([{ tag: 'v1', digest: `${image}` }]);
    expect(plan.linksRead.has(`app@${orphan}`)).toBe(true);
    expect(events.filter((e) => e.kind === 'mark-manifest')).toEqual([
      { kind: 'mark-manifest', repository: 'app', digest: `${image}` },
    ]);
    for (const write of writes) expect(write).not.toHaveBeenCalled();
  });

  it('does not read a revision larger than a manifest may be (a link to a layer in a damaged store)', async () => {
    const { store, layer } = await oldStore();
    const big = Buffer.alloc(MAX_MANIFEST_BYTES + 1, 0x20);
    const bigDigest = Digest.of('sha256', big);
    await store.putContent(paths.blobData(bigDigest), big);
    await store.putContent(paths.revisionLink('app', bigDigest), `${bigDigest}`);
    await store.putContent(paths.tagCurrentLink('app', 'big'), `${bigDigest}`);
    const reads = [vi.spyOn(store, 'getContent'), vi.spyOn(store, 'getContentMany')];
    const manifests = new ManifestReader(store);
    const plan = await mark(store, manifests, policyOf({}, Date.now()), () => {});
    const read = reads.flatMap((spy) => spy.mock.calls.flatMap(([paths]) => paths));
    expect(read).not.toContain(paths.blobData(bigDigest));
    // Kept as what its tag names, referencing nothing; the real image's layer is marked as before.
    expect(manifests.known(`${bigDigest}`)).toBeNull();
    expect(plan.marked.has(`${bigDigest}`)).toBe(true);
    expect(plan.marked.has(`${layer}`)).toBe(true);
  });
});

describe('the sweep', () => {
  const run = async (store: BaseDriver, between?: () => Promise<void>) => {
    const manifests = new ManifestReader(store);
    const plan = await mark(store, manifests, policyOf({ graceMs: HOUR }, Date.now()), () => {});
    await between?.();
    const lease = await StorageLease.acquire(store, { settleMs: 0 });
    try {
      return await sweep(plan, { driver: store, lease, manifests, emit: () => {} });
    } finally {
      await lease.release();
    }
  };

  it('deletes the candidates and the links to them, and nothing the plan kept', async () => {
    const { store, layer, orphan, image } = await oldStore();
    const swept = await run(store);
    expect(swept).toMatchObject({ blobsDeleted: [{ digest: `${orphan}`, size: 6 }], layerLinksRemoved: 1 });
    expect(await exists(store, paths.blobData(orphan))).toBe(false);
    expect(await exists(store, paths.layerLink('app', orphan))).toBe(false);
    expect(await exists(store, paths.blobData(layer))).toBe(true);
    expect(await exists(store, paths.blobData(image))).toBe(true);
    expect(await store.list(paths.gcRoot).catch(() => [])).toEqual([]);
  });

  it('takes back a candidate a push linked after the mark', async () => {
    const { store, orphan } = await oldStore();
    const swept = await run(store, () => store.putContent(paths.layerLink('other', orphan), `${orphan}`));
    expect(swept).toMatchObject({ blobsDeleted: [], blobsRestored: 1, layerLinksRemoved: 0 });
    expect((await store.getContent(paths.blobData(orphan))).toString()).toBe('orphan');
  });

  it('puts back what a crashed run left in quarantine', async () => {
    const { store, orphan } = await oldStore();
    await store.move(paths.blobData(orphan), paths.gcQuarantine('crashed', orphan));
    const lease = await StorageLease.acquire(store, { settleMs: 0 });
    await recoverQuarantines(store, lease);
    await lease.release();
    expect((await store.getContent(paths.blobData(orphan))).toString()).toBe('orphan');
    expect(await exists(store, paths.gcRun('crashed'))).toBe(false);
  });
});
