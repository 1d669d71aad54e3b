import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { InMemoryDriver } from '@regop/storage';
import { describe, expect, it, vi } from 'vitest';
import { MediaType } from '../content/media-types.js';
import { Registry } from '../content/registry.js';
import { RegistryError } from '../errors.js';
import { paths, ROOT } from '../paths.js';
import { Digest } from '../reference.js';
import { collectGarbage } from './collector.js';
import { LeaseHeldError, LeaseLostError, type LeaseRecord } from './lease.js';

/**
 * Runs a hook once: just before the collector reads its first manifest (the mark has read the tags), moves its
 * first blob into quarantine, or deletes its first revision.
 */
class HookedDriver extends InMemoryDriver {
  beforeManifestRead?: () => Promise<unknown>;
  beforeQuarantine?: () => Promise<void>;
  beforeRevisionDelete?: () => Promise<unknown>;
  override async getContent(path: string): Promise<Buffer> {
    const hook = path.startsWith('/docker/registry/v2/blobs/') ? this.beforeManifestRead : undefined;
    if (hook) {
      this.beforeManifestRead = undefined;
      await hook();
    }
    return super.getContent(path);
  }
  override async move(source: string, dest: string): Promise<void> {
    const hook = dest.includes('/_gc/') ? this.beforeQuarantine : undefined;
    if (hook) {
      this.beforeQuarantine = undefined;
      await hook();
    }
    return super.move(source, dest);
  }
  /** Every revision directory deleted, in order. */
  readonly revisionsDeleted: string[] = [];
  override async delete(path: string): Promise<void> {
    const revision = path.includes('/_manifests/revisions/');
    if (revision) this.revisionsDeleted.push(path);
    const hook = revision ? this.beforeRevisionDelete : undefined;
    if (hook) {
      this.beforeRevisionDelete = undefined;
      await hook();
    }
    return super.delete(path);
  }
}

/**
 * Runs `write` with the store dating what it writes a second ago: a store dates a file by when its bytes were
 * written, which for one moved into place (a link is written beside it, synced, then renamed) is before it became
 * visible, and a filesystem's clock is coarser than the collector's.
 */
async function writtenEarlier<T>(write: () => Promise<T>): Promise<T> {
  vi.useFakeTimers({ toFake: ['Date'], now: Date.now() - 1000 });
  try {
    return await write();
  } finally {
    vi.useRealTimers();
  }
}

/** The same store as an object store shows it to the collector: walks whose listing gives each file's time. */
const listedFlat = <T extends new () => InMemoryDriver>(Base: T) =>
  class extends Base {
    readonly flatListing = true;
  };

/** The same store as a filesystem shows it to the collector: stats and reads many paths at once. */
const inBatches = <T extends new () => InMemoryDriver>(Base: T) =>
  class extends Base {
    statMany(paths: readonly string[]) {
      return Promise.all(paths.map((p) => this.stat(p).catch(() => undefined)));
    }
    getContentMany(paths: readonly string[]) {
      return Promise.all(paths.map((p) => this.getContent(p).catch(() => undefined)));
    }
  };

// In one process on one store, a written lease is read back at once: no need to let it settle.
const NOW = { graceMs: 0, lease: { settleMs: 0 } };
/** With no grace, content written in the run's first millisecond counts as fresh: let time move on. */
const tick = () => new Promise((r) => setTimeout(r, 5));

/** Sizes of what the tests pushed, for the descriptors that name them. */
const sizes = new Map<string, number>();

async function pushBlob(registry: Registry, repo: string, content: Buffer): Promise<Digest> {
  const digest = Digest.of('sha256', content);
  sizes.set(`${digest}`, content.length);
  const upload = await registry.uploads.start(repo);
  await registry.uploads.commit(repo, upload.id, digest, Readable.from([content]));
  return digest;
}

function manifest(config: Digest, layers: Digest[], extra: object = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: `${config}`,
        size: sizes.get(`${config}`),
      },
      layers: layers.map((d) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: `${d}`,
        size: sizes.get(`${d}`),
      })),
      ...extra,
    }),
  );
}

async function pushImage(
  registry: Registry,
  repo: string,
  tag: string | undefined,
  layers: Digest[],
  extra: object = {},
) {
  const config = await pushBlob(registry, repo, Buffer.from(JSON.stringify({ tag, n: Math.random() })));
  const body = manifest(config, layers, extra);
  const digest = Digest.of('sha256', body);
  sizes.set(`${digest}`, body.length);
  const ref = tag === undefined ? { kind: 'digest' as const, digest } : { kind: 'tag' as const, tag };
  await registry.manifests.put(repo, ref, MediaType.ociManifest, body);
  return { digest, config };
}

/** Tags an image pushed before, as a client does: a PUT of the same manifest by tag. */
const tagImage = (
  registry: Registry,
  repo: string,
  tag: string,
  image: { config: Digest },
  layers: Digest[],
) =>
  registry.manifests.put(repo, { kind: 'tag', tag }, MediaType.ociManifest, manifest(image.config, layers));

/** The tag names the image, and its config and layers are all there. */
async function expectWhole(
  driver: InMemoryDriver,
  registry: Registry,
  repo: string,
  tag: string,
  image: { digest: Digest; config: Digest },
  layers: Digest[],
) {
  const got = await registry.manifests.get(repo, { kind: 'tag', tag });
  expect(got.digest.equals(image.digest)).toBe(true);
  for (const blob of [image.config, ...layers]) expect(await exists(driver, blob)).toBe(true);
}

/** An OCI index of manifests pushed before. */
function indexOf(children: { digest: Digest }[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: children.map((m) => ({
        mediaType: MediaType.ociManifest,
        digest: `${m.digest}`,
        size: sizes.get(`${m.digest}`),
      })),
    }),
  );
}

const exists = async (driver: InMemoryDriver, d: Digest) =>
  driver.stat(paths.blobData(d)).then(
    () => true,
    () => false,
  );

describe.each([
  { listing: 'directory by directory', Memory: InMemoryDriver, Hooked: HookedDriver },
  {
    listing: 'directory by directory, stats and reads in batches',
    Memory: inBatches(InMemoryDriver),
    Hooked: inBatches(HookedDriver),
  },
  { listing: 'flat, with times', Memory: listedFlat(InMemoryDriver), Hooked: listedFlat(HookedDriver) },
])('garbage collection (walks listing $listing)', ({ Memory, Hooked }) => {
  it('frees exactly the blobs no manifest references; shared layers survive; a dry run changes nothing', async () => {
    const driver = new Memory();
    const registry = new Registry(driver);
    const shared = await pushBlob(registry, 'app', randomBytes(100));
    const onlyOld = await pushBlob(registry, 'app', randomBytes(100));
    const onlyNew = await pushBlob(registry, 'app', randomBytes(100));
    const old = await pushImage(registry, 'app', 'old', [shared, onlyOld]);
    const current = await pushImage(registry, 'app', 'new', [shared, onlyNew]);
    await registry.manifests.delete('app', old.digest);

    await tick();
    const dry = await collectGarbage(driver, { ...NOW, dryRun: true });
    expect(dry.blobsDeleted.map((b) => b.digest).sort()).toEqual(
      [`${old.digest}`, `${old.config}`, `${onlyOld}`].sort(),
    );
    expect(await exists(driver, onlyOld)).toBe(true);

    const result = await collectGarbage(driver, NOW);
    expect(result.blobsDeleted.map((b) => b.digest).sort()).toEqual(
      dry.blobsDeleted.map((b) => b.digest).sort(),
    );
    expect(result.bytesFreed).toBe(dry.bytesFreed);
    expect(await exists(driver, onlyOld)).toBe(false);
    expect(await exists(driver, old.digest)).toBe(false);
    for (const d of [shared, onlyNew, current.digest, current.config])
      expect(await exists(driver, d)).toBe(true);
    // The repository no longer links what is gone, so a re-push stores it again.
    expect(await registry.blobs.find('app', onlyOld)).toBeUndefined();
    expect(result.layerLinksRemoved).toBe(2);
    expect((await collectGarbage(driver, NOW)).blobsDeleted).toEqual([]);
  });

  it('keeps what is younger than the grace period', async () => {
    const driver = new Memory();
    const registry = new Registry(driver);
    const orphan = await pushBlob(registry, 'app', randomBytes(10));
    const result = await collectGarbage(driver, { ...NOW, graceMs: 3_600_000 });
    expect(result.blobsDeleted).toEqual([]);
    expect(await exists(driver, orphan)).toBe(true);
  });

  it('keeps an old blob that a repository linked within the grace period (a mount), and frees it after', async () => {
    const driver = new Memory();
    const registry = new Registry(driver);
    const blob = await pushBlob(registry, 'app', randomBytes(10));
    // Beside it, an old orphan of another size: each blob's size and time are its own.
    const orphan = await pushBlob(registry, 'app', randomBytes(30));
    const grace = { ...NOW, graceMs: 250 };
    await new Promise((r) => setTimeout(r, 500));
    await registry.blobs.link('other', blob);
    const result = await collectGarbage(driver, grace);
    expect(result.blobsDeleted).toEqual([{ digest: `${orphan}`, size: 30 }]);
    expect(result.keptForGrace).toEqual({ blobs: 1, bytes: 10 });
    expect(result.layerLinksRemoved).toBe(1);
    expect(await exists(driver, blob)).toBe(true);

    await new Promise((r) => setTimeout(r, 500));
    const later = await collectGarbage(driver, grace);
    expect(later.blobsDeleted.map((b) => b.digest)).toEqual([`${blob}`]);
    expect(later.layerLinksRemoved).toBe(2);
  });

  it('with deleteUntagged, removes untagged manifests but keeps an index’s children and referrers', async () => {
    const driver = new Memory();
    const registry = new Registry(driver);
    const layer = await pushBlob(registry, 'multi', randomBytes(50));
    const amd64 = await pushImage(registry, 'multi', undefined, [layer]);
    const arm64 = await pushImage(registry, 'multi', undefined, [layer]);
    const index = indexOf([amd64, arm64]);
    await registry.manifests.put('multi', { kind: 'tag', tag: 'v1' }, MediaType.ociIndex, index);
    const sbom = await pushImage(registry, 'multi', undefined, [], {
      subject: { mediaType: MediaType.ociIndex, digest: `${Digest.of('sha256', index)}`, size: index.length },
    });
    const stray = await pushImage(registry, 'multi', undefined, [
      await pushBlob(registry, 'multi', randomBytes(50)),
    ]);

    await tick();
    const result = await collectGarbage(driver, { ...NOW, deleteUntagged: true });
    expect(result.manifestsDeleted).toEqual([{ repository: 'multi', digest: `${stray.digest}` }]);
    for (const m of [amd64, arm64, sbom])
      expect(await registry.manifests.exists('multi', m.digest)).toBe(true);
    expect(await registry.manifests.exists('multi', stray.digest)).toBe(false);
    expect(await exists(driver, stray.config)).toBe(false);
    expect(await exists(driver, layer)).toBe(true);
    const referrers: unknown[] = [];
    for await (const r of registry.manifests.referrers('multi', Digest.of('sha256', index)))
      referrers.push(r);
    expect(referrers).toHaveLength(1);
  });

  it('a manifest PUT that completes just before the sweep keeps its old, unreferenced layer', async () => {
    const driver = new Hooked();
    const registry = new Registry(driver);
    const layer = await pushBlob(registry, 'app', randomBytes(64));
    await tick();
    driver.beforeQuarantine = async () => {
      await pushImage(registry, 'app', 'raced', [layer]);
    };
    await collectGarbage(driver, NOW);
    expect(await exists(driver, layer)).toBe(true);
    const raced = await registry.manifests.get('app', { kind: 'tag', tag: 'raced' });
    expect(raced.content.toString()).toContain(`${layer}`);
  });

  it('a manifest PUT whose blob is swept while it lands fails cleanly instead of pointing at nothing', async () => {
    const driver = new Hooked();
    const registry = new Registry(driver);
    const layer = await pushBlob(registry, 'app', randomBytes(64));
    const config = await pushBlob(registry, 'app', Buffer.from('{}'));
    await tick();
    // The collector quarantines the layer right after the PUT's first check passed.
    const originalExists = registry.blobs.find.bind(registry.blobs);
    let checks = 0;
    registry.blobs.find = async (name, digest) => {
      const found = await originalExists(name, digest);
      if (digest.equals(layer) && ++checks === 1) await collectGarbage(driver, NOW);
      return found;
    };
    const outcome = await registry.manifests
      .put('app', { kind: 'tag', tag: 'late' }, MediaType.ociManifest, manifest(config, [layer]))
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(outcome).toBeInstanceOf(RegistryError);
    expect(outcome).toMatchObject({ code: 'MANIFEST_BLOB_UNKNOWN' });
    await expect(registry.manifests.get('app', { kind: 'tag', tag: 'late' })).rejects.toMatchObject({
      status: 404,
    });
    expect(await registry.manifests.exists('app', Digest.of('sha256', manifest(config, [layer])))).toBe(
      false,
    );
  });

  it('an upload of existing content during the sweep keeps the blob, whatever time the store dates its link', async () => {
    const driver = new Hooked();
    const registry = new Registry(driver);
    const content = randomBytes(64);
    const digest = await pushBlob(registry, 'app', content);
    await tick();
    driver.beforeQuarantine = () => writtenEarlier(() => pushBlob(registry, 'other', content));
    await collectGarbage(driver, NOW);
    expect(await exists(driver, digest)).toBe(true);
  });

  it('with deleteUntagged, a manifest tagged while the run deletes it comes back with its referrer, whatever time the store dates its tag', async () => {
    const driver = new Hooked();
    const registry = new Registry(driver);
    const layer = await pushBlob(registry, 'app', randomBytes(40));
    const image = await pushImage(registry, 'app', undefined, [layer]);
    const signature = await pushImage(registry, 'app', undefined, [], {
      subject: {
        mediaType: MediaType.ociManifest,
        digest: `${image.digest}`,
        size: sizes.get(`${image.digest}`),
      },
    });
    await tick();
    // The mark saw no tag; the PUT by tag lands after it, and its own checks pass before the deletion.
    driver.beforeRevisionDelete = () =>
      writtenEarlier(() => tagImage(registry, 'app', 'late', image, [layer]));
    const result = await collectGarbage(driver, { ...NOW, deleteUntagged: true });
    expect(result.manifestsDeleted).toEqual([]);
    await expectWhole(driver, registry, 'app', 'late', image, [layer]);
    expect(await registry.manifests.exists('app', signature.digest)).toBe(true);
    expect(await exists(driver, signature.config)).toBe(true);
    const referrers: unknown[] = [];
    for await (const r of registry.manifests.referrers('app', image.digest)) referrers.push(r);
    expect(referrers).toHaveLength(1);
  });

  it('with deleteUntagged, a manifest tagged after the mark read the tags is never deleted', async () => {
    const driver = new Hooked();
    const registry = new Registry(driver);
    const layer = await pushBlob(registry, 'app', randomBytes(40));
    const image = await pushImage(registry, 'app', undefined, [layer]);
    const stray = await pushImage(registry, 'app', undefined, []);
    await tick();
    driver.beforeManifestRead = () => tagImage(registry, 'app', 'late', image, [layer]);
    const result = await collectGarbage(driver, { ...NOW, deleteUntagged: true });
    expect(result.manifestsDeleted).toEqual([{ repository: 'app', digest: `${stray.digest}` }]);
    // Only the stray was deleted: the late tag's manifest was there all along.
    expect(driver.revisionsDeleted).toEqual([paths.revisionDir('app', stray.digest)]);
    expect(await registry.manifests.exists('app', stray.digest)).toBe(false);
    await expectWhole(driver, registry, 'app', 'late', image, [layer]);
  });

  it('with deleteUntagged, an index pushed while the run deletes its untagged children keeps them', async () => {
    const driver = new Hooked();
    const registry = new Registry(driver);
    const layer = await pushBlob(registry, 'multi', randomBytes(50));
    const children = [
      await pushImage(registry, 'multi', undefined, [layer]),
      await pushImage(registry, 'multi', undefined, [layer]),
    ];
    const index = indexOf(children);
    await tick();
    driver.beforeRevisionDelete = async () => {
      await registry.manifests.put('multi', { kind: 'tag', tag: 'v1' }, MediaType.ociIndex, index);
    };
    const result = await collectGarbage(driver, { ...NOW, deleteUntagged: true });
    expect(result.manifestsDeleted).toEqual([]);
    for (const child of children) {
      expect(await registry.manifests.exists('multi', child.digest)).toBe(true);
      expect(await exists(driver, child.config)).toBe(true);
    }
    expect(await exists(driver, layer)).toBe(true);
  });

  it('puts back what a crashed run left in quarantine', async () => {
    const driver = new Memory();
    const registry = new Registry(driver);
    const layer = await pushBlob(registry, 'app', randomBytes(64));
    await pushImage(registry, 'app', 'v1', [layer]);
    await driver.move(paths.blobData(layer), paths.gcQuarantine('crashed', layer));
    await tick();
    await collectGarbage(driver, NOW);
    expect(await exists(driver, layer)).toBe(true);
    expect(await driver.list(ROOT)).not.toContain(paths.gcRoot);
  });

  it("puts back a crashed run's quarantine in the layout before it was flat (a directory per blob)", async () => {
    const driver = new Memory();
    const registry = new Registry(driver);
    const layer = await pushBlob(registry, 'app', randomBytes(64));
    await pushImage(registry, 'app', 'v1', [layer]);
    await driver.move(
      paths.blobData(layer),
      `${paths.gcRun('crashed')}/${layer.algorithm}/${layer.hex}/data`,
    );
    await tick();
    await collectGarbage(driver, NOW);
    expect(await exists(driver, layer)).toBe(true);
    expect(await driver.list(ROOT)).not.toContain(paths.gcRoot);
  });

  describe('the storage lease', () => {
    const lease = (owner: string, inMs: number): LeaseRecord => ({
      owner,
      token: owner,
      expires: new Date(Date.now() + inMs).toISOString(),
    });
    const garbage = async (registry: Registry, n: number) => {
      for (let i = 0; i < n; i++) await pushBlob(registry, 'app', randomBytes(32));
      await tick();
    };

    it('lets two collectors on one store sweep one at a time, never both', async () => {
      const store = new Memory();
      await garbage(new Registry(store), 20);
      // Each collector sees the store through its own view, which checks at every quarantine move that the
      // stored lease is its own: the moment a second collector swept too, one of them would fail.
      const violations: string[] = [];
      const view = (owner: string): InMemoryDriver =>
        Object.assign(Object.create(store) as InMemoryDriver, {
          async move(source: string, dest: string) {
            if (dest.startsWith(paths.gcRoot)) {
              const held = JSON.parse((await store.getContent(paths.gcLease)).toString()) as LeaseRecord;
              if (held.owner !== owner) violations.push(`${owner} swept while ${held.owner} held the lease`);
              await new Promise((r) => setTimeout(r, 5));
            }
            return store.move(source, dest);
          },
        });
      const waited: string[] = [];
      const run = (owner: string) =>
        collectGarbage(view(owner), {
          graceMs: 0,
          lease: { owner, settleMs: 20, waitMs: 30_000, onWait: (holder) => waited.push(holder.owner) },
        });
      const [a, b] = await Promise.all([run('unit/0'), run('unit/1')]);
      expect(violations).toEqual([]);
      expect(waited).toHaveLength(1);
      expect(a.blobsDeleted.length + b.blobsDeleted.length).toBe(20);
      await expect(store.stat(paths.gcLease)).rejects.toThrow(/not found/);

      // Without waiting, the second is refused with the holder named.
      await garbage(new Registry(store), 5);
      const outcomes = await Promise.allSettled([
        collectGarbage(view('unit/0'), { graceMs: 0, lease: { owner: 'unit/0', settleMs: 20 } }),
        collectGarbage(view('unit/1'), { graceMs: 0, lease: { owner: 'unit/1', settleMs: 20 } }),
      ]);
      const refused = outcomes.filter((o) => o.status === 'rejected');
      expect(refused).toHaveLength(1);
      const reason = (refused[0] as PromiseRejectedResult).reason;
      expect(reason).toBeInstanceOf(LeaseHeldError);
      expect(reason.message).toMatch(
        /another garbage collection holds the storage lease \(unit\/[01], until/,
      );
      expect(violations).toEqual([]);
    });

    it('refuses while a live lease is held, takes over an expired one', async () => {
      const driver = new Memory();
      await garbage(new Registry(driver), 3);
      await driver.putContent(paths.gcLease, JSON.stringify(lease('unit/7', 60_000)));
      await expect(collectGarbage(driver, NOW)).rejects.toThrow(/\(unit\/7, until/);
      // Dry runs change nothing and need no lease.
      expect((await collectGarbage(driver, { ...NOW, dryRun: true })).blobsDeleted).toHaveLength(3);
      // The holder crashed: its lease runs out and the next collector goes ahead.
      await driver.putContent(paths.gcLease, JSON.stringify(lease('unit/7', -1)));
      expect((await collectGarbage(driver, NOW)).blobsDeleted).toHaveLength(3);
    });

    it('stops before deleting anything when its lease was taken over', async () => {
      const driver = new Hooked();
      const registry = new Registry(driver);
      await garbage(registry, 3);
      driver.beforeQuarantine = async () => {
        await driver.putContent(paths.gcLease, JSON.stringify(lease('unit/9', 60_000)));
      };
      await expect(collectGarbage(driver, NOW)).rejects.toBeInstanceOf(LeaseLostError);
      // What it quarantined is still there for the next holder to put back.
      const [run] = await driver.list(paths.gcRoot);
      const left: string[] = [];
      await driver.walk(run as string, (info) => void (info.isDir || left.push(info.path)));
      expect(left).toHaveLength(3);
    });
  });

  describe('retention', () => {
    /** Every file in the store with its bytes: a dry run must leave it exactly as it was. */
    const snapshot = async (driver: InMemoryDriver) => {
      const files: string[] = [];
      await driver.walk('/', async (info) => {
        if (!info.isDir)
          files.push(`${info.path} ${(await driver.getContent(info.path)).toString('base64')}`);
      });
      return files.sort();
    };

    it('keeps a tag pushed again after the mark read it, whatever time the store dates it', async () => {
      const driver = new Hooked();
      const registry = new Registry(driver);
      const layer = await pushBlob(registry, 'app', randomBytes(64));
      const old = await pushImage(registry, 'app', 'old', [layer]);
      await tick();
      await pushImage(registry, 'app', 'current', [await pushBlob(registry, 'app', randomBytes(64))]);
      await tick();
      // keeplast 1 removes 'old'; a client pushes the same image to it again once the mark has read the tags.
      driver.beforeManifestRead = () => writtenEarlier(() => tagImage(registry, 'app', 'old', old, [layer]));
      const result = await collectGarbage(driver, {
        ...NOW,
        retention: [{ repositories: 'app', keeplast: 1 }],
      });
      expect(result.manifestsDeleted).toEqual([]);
      expect(await registry.tags.list('app')).toEqual(['current', 'old']);
      await expectWhole(driver, registry, 'app', 'old', old, [layer]);
    });

    it('keeps the newest N and what keeptags matches, removing the rest and their unshared blobs; a dry run reports exactly that', async () => {
      const driver = new Memory();
      const registry = new Registry(driver);
      const shared = await pushBlob(registry, 'team/app', randomBytes(64));
      const images = new Map<string, { digest: Digest; layer: Digest; config: Digest }>();
      for (const tag of [
        'latest',
        ...Array.from({ length: 20 }, (_, i) => `t${String(i + 1).padStart(2, '0')}`),
      ]) {
        const layer = await pushBlob(registry, 'team/app', randomBytes(64));
        images.set(tag, { ...(await pushImage(registry, 'team/app', tag, [shared, layer])), layer });
        await tick();
      }
      // Another repository no rule governs keeps everything.
      await pushImage(registry, 'other', 'old', [await pushBlob(registry, 'other', randomBytes(64))]);
      await tick();
      const options = {
        ...NOW,
        retention: [{ repositories: 'team/*', keeplast: 5, keeptags: ['^latest$'] }],
      };
      const before = await snapshot(driver);
      const dry = await collectGarbage(driver, { ...options, dryRun: true });
      expect(await snapshot(driver)).toEqual(before);
      const real = await collectGarbage(driver, options);

      const kept = ['latest', 't16', 't17', 't18', 't19', 't20'];
      expect(await registry.tags.list('team/app')).toEqual(kept);
      expect(await registry.tags.list('other')).toEqual(['old']);
      for (const [tag, image] of images) {
        const keep = kept.includes(tag);
        expect(await exists(driver, image.layer), tag).toBe(keep);
        expect(await exists(driver, image.digest), tag).toBe(keep);
      }
      expect(await exists(driver, shared)).toBe(true);

      // The dry run said exactly what the real run did.
      const removed = Array.from({ length: 15 }, (_, i) => `t${String(i + 1).padStart(2, '0')}`);
      expect(real.retention).toHaveLength(1);
      const [report] = real.retention;
      expect(report?.repository).toBe('team/app');
      expect(report?.tagsRemoved.map((t) => t.tag).sort()).toEqual(removed);
      expect(report?.tagsRemoved[0]?.reason).toBe('not among the 5 most recently pushed');
      expect(report?.manifestsRemoved).toHaveLength(15);
      expect(report?.bytesFreed).toBe(real.bytesFreed);
      expect(dry.retention).toEqual(real.retention);
      expect(dry.blobsDeleted.map((b) => b.digest).sort()).toEqual(
        real.blobsDeleted.map((b) => b.digest).sort(),
      );
      expect(dry.manifestsDeleted).toEqual(real.manifestsDeleted);
    });

    it('takes referrers with their subject, keeps children of kept indexes, and ages out untagged manifests', async () => {
      const driver = new Memory();
      const registry = new Registry(driver);
      const layer = await pushBlob(registry, 'app', randomBytes(64));
      const old = await pushImage(registry, 'app', 'old', [layer]);
      const signature = await pushImage(registry, 'app', undefined, [], {
        subject: {
          mediaType: MediaType.ociManifest,
          digest: `${old.digest}`,
          size: sizes.get(`${old.digest}`),
        },
      });
      const child = await pushImage(registry, 'app', undefined, [layer]);
      const index = indexOf([child]);
      await tick();
      await registry.manifests.put('app', { kind: 'tag', tag: 'new' }, MediaType.ociIndex, index);
      const loose = await pushImage(registry, 'app', undefined, [layer]);
      await tick();
      const rule = { repositories: 'app', keeplast: 1 };
      await collectGarbage(driver, { ...NOW, retention: [rule] });
      expect(await registry.tags.list('app')).toEqual(['new']);
      expect(await registry.manifests.exists('app', old.digest)).toBe(false);
      expect(await registry.manifests.exists('app', signature.digest)).toBe(false);
      expect(await registry.manifests.exists('app', child.digest)).toBe(true);
      // Untagged before this run, and no untaggedolderthan: spared.
      expect(await registry.manifests.exists('app', loose.digest)).toBe(true);
      await collectGarbage(driver, { ...NOW, retention: [{ ...rule, untaggedolderthan: 1 }] });
      expect(await registry.manifests.exists('app', loose.digest)).toBe(false);
      expect(await registry.manifests.exists('app', child.digest)).toBe(true);
    });

    it('matches repositories by glob, the first matching rule governing, and removes tags by age', async () => {
      const driver = new Memory();
      const registry = new Registry(driver);
      for (const repo of ['team/app', 'team/sub/app', 'solo']) {
        await pushImage(registry, repo, 'a', [await pushBlob(registry, repo, randomBytes(32))]);
        await pushImage(registry, repo, 'b', [await pushBlob(registry, repo, randomBytes(32))]);
      }
      await tick();
      await collectGarbage(driver, {
        ...NOW,
        retention: [
          { repositories: 'team/*', keeptags: ['^b$'], tagsolderthan: 1 },
          { repositories: '**', keeplast: 5 },
        ],
      });
      expect(await registry.tags.list('team/app')).toEqual(['b']);
      // team/* does not reach into team/sub: ** (keep 5) governs it and solo.
      expect(await registry.tags.list('team/sub/app')).toEqual(['a', 'b']);
      expect(await registry.tags.list('solo')).toEqual(['a', 'b']);
    });
  });

  it('collects around sparse content: a manifest whose layers are absent keeps what it has', async () => {
    const driver = new Memory();
    const registry = new Registry(driver, { validation: { layers: 'none', indexChildren: 'none' } });
    const present = await pushBlob(registry, 'sparse', randomBytes(64));
    const absent = Digest.of('sha256', 'never pushed');
    sizes.set(`${absent}`, 12);
    const image = await pushImage(registry, 'sparse', 'v1', [present, absent]);
    const garbage = await pushBlob(registry, 'sparse', randomBytes(64));
    await tick();
    const result = await collectGarbage(driver, NOW);
    expect(result.blobsDeleted.map((b) => b.digest)).toEqual([`${garbage}`]);
    expect(await exists(driver, present)).toBe(true);
    expect((await registry.manifests.get('sparse', { kind: 'tag', tag: 'v1' })).digest).toEqual(image.digest);
  });
});
