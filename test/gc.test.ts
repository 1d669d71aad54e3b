import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Server, stopAll } from '@regop/peers';
import { collectGarbage, Digest, MediaType, paths, Registry } from '@regop/registry';
import { FilesystemDriver } from '@regop/storage-fs';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushImage, sha256 } from './support/http.js';
import {
  addLayer,
  insecure,
  makeOciImage,
  ociImageBlobs,
  ociManifestDigest,
  skopeo,
  verifyOciBlobs,
} from './support/images.js';
import { describeWithPeers } from './support/peers.js';
import { REGISTRY_MAIN, startDockerRegistry, startOurRegistry } from './support/registries.js';

const KiB = 1024;

/** Every blob digest stored under a registry root. */
async function storedBlobs(root: string): Promise<string[]> {
  const base = join(root, 'docker/registry/v2/blobs/sha256');
  const found: string[] = [];
  for (const prefix of await readdir(base).catch(() => [])) {
    for (const hex of await readdir(join(base, prefix))) {
      if ((await readdir(join(base, prefix, hex))).includes('data')) found.push(`sha256:${hex}`);
    }
  }
  return found.sort();
}

const gc = (config: string, ...args: string[]) =>
  execa(process.execPath, [REGISTRY_MAIN, 'garbage-collect', config, '--grace', '0s', ...args]);

describeWithPeers(['skopeo', 'umoci', 'docker-registry'], 'garbage-collect after deleting images', () => {
  let dir: string;
  let root: string;
  let registry: Server;
  let layout: string;
  let host: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'regop-gc-'));
    root = join(dir, 'data');
    layout = await makeOciImage(dir, 'v1', [300 * KiB, 200 * KiB]);
    await addLayer(layout, 'v1', 'v2', 100 * KiB);
    registry = await startOurRegistry({ root, dir });
    host = new URL(registry.url).host;
    for (const [tag, dest] of [
      ['v1', 'app:v1'],
      ['v2', 'app:v2'],
      ['v1', 'other:v1'],
    ]) {
      await skopeo('copy', ...insecure, `oci:${layout}:${tag}`, `docker://${host}/${dest}`);
    }
  });
  afterAll(async () => {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  });

  it('frees exactly what only the deleted image used; --dry-run changes nothing; docker-registry serves the rest', async () => {
    const v1 = await ociImageBlobs(layout, 'v1');
    const v2 = await ociImageBlobs(layout, 'v2');
    const unshared = v2.filter((d) => !v1.includes(d)).sort();
    expect(unshared).toHaveLength(3); // the v2 manifest, its config and its extra layer
    await skopeo('delete', '--tls-verify=false', `docker://${host}/app:v2`);
    const before = await storedBlobs(root);
    const config = join(dir, 'ours.yml');

    // With the default grace (1h) nothing this young goes, and the run says so and how to free it.
    const young = await execa(process.execPath, [REGISTRY_MAIN, 'garbage-collect', config, '--dry-run']);
    expect(young.stdout).toMatch(/0 blobs \(0\.0 MiB\) and 0 manifests eligible for deletion/);
    expect(young.stdout).toMatch(
      /3 unreferenced blobs \([\d.]+ MiB\) kept: written or linked within the grace period \(--grace 1h\)/,
    );

    const dry = await gc(config, '--dry-run');
    expect(await storedBlobs(root)).toEqual(before);
    const eligible = [...dry.stdout.matchAll(/blob eligible for deletion: (sha256:\w+)/g)]
      .map((m) => m[1])
      .sort();
    expect(eligible).toEqual(unshared);

    const run = await gc(config);
    expect(run.stdout).toMatch(/3 blobs \([\d.]+ MiB\) and 0 manifests deleted/);
    expect(await storedBlobs(root)).toEqual(before.filter((d) => !unshared.includes(d)));

    // A re-push stores the collected layer again (no stale "already exists").
    await skopeo('copy', ...insecure, `oci:${layout}:v2`, `docker://${host}/app:v2`);
    expect(await storedBlobs(root)).toEqual(before);
    await skopeo('delete', '--tls-verify=false', `docker://${host}/app:v2`);

    // Another unit's collection holds the store's lease: this one refuses, naming it; with --wait it waits.
    const lease = join(root, 'docker/registry/v2/_gc_lease');
    const expires = new Date(Date.now() + 60_000).toISOString();
    await writeFile(lease, JSON.stringify({ owner: 'registry/1', token: 'other', expires }));
    const refused = await gc(config).catch((err: { exitCode: number; stderr: string }) => err);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toBe(
      `registry: another garbage collection holds the storage lease (registry/1, until ${expires}); run again when it is done`,
    );
    expect(await storedBlobs(root)).toEqual(before);
    const waiting = gc(config, '--wait', '1m');
    setTimeout(() => void rm(lease), 1500);
    const waited = await waiting;
    expect(waited.stderr).toMatch(/waiting for the collection of registry\/1/);
    expect(waited.stdout).toMatch(/3 blobs \([\d.]+ MiB\) and 0 manifests deleted/);

    await registry.stop();
    const theirs = await startDockerRegistry({ root, dir });
    for (const repo of ['app:v1', 'other:v1']) {
      const out = join(dir, `pulled-${repo.replace(':', '-')}`);
      await skopeo('copy', ...insecure, `docker://${new URL(theirs.url).host}/${repo}`, `oci:${out}:t`);
      expect(await ociManifestDigest(out, 't')).toBe(await ociManifestDigest(layout, 'v1'));
      expect(await verifyOciBlobs(out)).toEqual(v1);
    }
  });
});

/** Every file under a directory with a hash of its bytes: a dry run must leave the store exactly as it was. */
async function fingerprint(root: string): Promise<string[]> {
  const files = (await readdir(root, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
  return Promise.all(
    files.map(async (f) => {
      const path = join(f.parentPath, f.name);
      return `${path} ${createHash('sha256')
        .update(await readFile(path))
        .digest('hex')}`;
    }),
  ).then((lines) => lines.sort());
}

describeWithPeers(['skopeo', 'docker-registry'], 'retention rules', () => {
  let dir: string;
  let root: string;
  let registry: Server;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'regop-retention-'));
    root = join(dir, 'data');
    registry = await startOurRegistry({ root, dir });
  });
  afterAll(async () => {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps latest and the five newest tags, frees the rest; the dry run reports exactly that; both registries serve what is kept', async () => {
    const shared = randomBytes(32 * KiB);
    const tags = ['latest', ...Array.from({ length: 20 }, (_, i) => `t${String(i + 1).padStart(2, '0')}`)];
    const own = new Map<string, Buffer>();
    for (const tag of tags) {
      own.set(tag, randomBytes(16 * KiB));
      await pushImage(registry.url, 'team/app', tag, [shared, own.get(tag) as Buffer]);
      // Push times a filesystem tells apart.
      await new Promise((r) => setTimeout(r, 20));
    }
    const config = join(dir, 'retention.yml');
    await writeFile(
      config,
      [
        'version: 0.1',
        'storage:',
        `  filesystem: { rootdirectory: ${root} }`,
        '  maintenance:',
        '    garbagecollect:',
        '      retention:',
        '        - repositories: "team/*"',
        '          keeplast: 5',
        '          keeptags: ["^latest$"]',
        '',
      ].join('\n'),
    );
    const before = await fingerprint(root);
    const dry = JSON.parse((await gc(config, '--dry-run', '--format', 'json')).stdout);
    expect(await fingerprint(root)).toEqual(before);
    const text = await gc(config, '--dry-run');
    expect(text.stdout).toMatch(
      /tag eligible for removal: team\/app:t01 \(sha256:\w+\): not among the 5 most recently pushed/,
    );
    expect(text.stdout).toMatch(
      /team\/app \(retention rule 1\): 15 tags and 15 manifests would be removed, [\d.]+ MiB freed by that/,
    );

    const real = JSON.parse((await gc(config, '--format', 'json')).stdout);
    const kept = ['latest', 't16', 't17', 't18', 't19', 't20'];
    const list = (await (await fetch(`${registry.url}/v2/team/app/tags/list`)).json()) as { tags: string[] };
    expect(list.tags).toEqual(kept);
    expect(real.retention).toEqual(dry.retention);
    expect(real.blobsDeleted).toEqual(dry.blobsDeleted);
    expect(real.manifestsDeleted).toEqual(dry.manifestsDeleted);
    // Each removed image's own layer, config and manifest are gone; the shared layer and the kept ones stay.
    const stored = await storedBlobs(root);
    for (const [tag, layer] of own) expect(stored.includes(sha256(layer)), tag).toBe(kept.includes(tag));
    expect(stored).toContain(sha256(shared));
    expect(real.blobsDeleted).toHaveLength(45);

    const theirs = await startDockerRegistry({ root, dir });
    for (const server of [registry, theirs]) {
      for (const tag of kept) {
        const out = join(dir, `pull-${server.pid}-${tag}`);
        await skopeo(
          'copy',
          ...insecure,
          '--dest-oci-accept-uncompressed-layers',
          `docker://${new URL(server.url).host}/team/app:${tag}`,
          `oci:${out}:t`,
        );
        expect(await verifyOciBlobs(out)).toContain(sha256(own.get(tag) as Buffer));
      }
    }
    await theirs.stop();
  });
});

describeWithPeers(['skopeo'], 'garbage collection while pushes run', () => {
  let dir: string;
  let registry: Server;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'regop-gc-stress-'));
    registry = await startOurRegistry({ root: join(dir, 'data'), dir });
  });
  afterAll(async () => {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  });

  it('loses nothing: every tagged image pulls completely afterwards', async () => {
    // A small pool of shared layers: deleted images orphan them and new pushes take them up again, the
    // collector's most dangerous moment (the client's HEAD says "exists", so it uploads nothing).
    const pool = Array.from({ length: 6 }, () => randomBytes(64 * KiB));
    const tagged = new Map<string, string>();
    let retries = 0;
    let stop = false;

    const push = async (tag: string, layers: Buffer[]) => {
      for (let attempt = 1; ; attempt++) {
        try {
          tagged.set(tag, await pushImage(registry.url, 'stress/app', tag, layers));
          return;
        } catch (err) {
          // A push that raced the sweep is refused cleanly; clients retry it.
          if (attempt === 5) throw err;
          retries++;
        }
      }
    };
    const worker = async (w: number) => {
      for (let i = 0; i < 30; i++) {
        const tag = `w${w}-${i}`;
        const layers = [pool[(w + i) % 6] as Buffer, pool[(w * 2 + i) % 6] as Buffer, randomBytes(8 * KiB)];
        await push(tag, layers);
        // Now and then the tag goes and comes back to the same manifest: a collector deleting untagged
        // manifests may be deciding about it just as it is tagged again.
        if (i % 3 === 1) {
          const untag = await fetch(`${registry.url}/v2/stress/app/manifests/${tag}`, { method: 'DELETE' });
          expect(untag.status).toBe(202);
          tagged.delete(tag);
          await new Promise((r) => setTimeout(r, 5 * (i % 4)));
          await push(tag, layers);
        }
        // Delete an older image now and then, so the collector has garbage to find.
        if (i % 3 === 2) {
          const old = `w${w}-${i - 2}`;
          const res = await fetch(`${registry.url}/v2/stress/app/manifests/${tagged.get(old)}`, {
            method: 'DELETE',
          });
          expect(res.status).toBe(202);
          tagged.delete(old);
        }
      }
    };
    let runs = 0;
    let freed = 0;
    const failures: unknown[] = [];
    const collector = (async () => {
      while (!stop) {
        const args = runs % 2 === 0 ? ['-q'] : ['-q', '--delete-untagged'];
        try {
          const out = await gc(join(dir, 'ours.yml'), ...args);
          freed += Number(/; (\d+) blobs/.exec(out.stdout)?.[1] ?? 0);
        } catch (err) {
          failures.push(err);
        }
        runs++;
      }
    })();
    await Promise.all([0, 1, 2].map(worker)).finally(() => {
      stop = true;
    });
    await collector;
    expect(failures).toEqual([]);
    expect(runs).toBeGreaterThanOrEqual(3);
    expect(freed).toBeGreaterThan(0);
    // Collect once more with nothing running: what remains must still be whole.
    await gc(join(dir, 'ours.yml'), '-q', '--delete-untagged');

    const host = new URL(registry.url).host;
    const tags = JSON.parse(
      (await skopeo('list-tags', '--tls-verify=false', `docker://${host}/stress/app`)).stdout,
    );
    expect([...tags.Tags].sort()).toEqual([...tagged.keys()].sort());
    for (const [tag, digest] of tagged) {
      const out = join(dir, `pull-${tag}`);
      await skopeo('copy', '--src-tls-verify=false', `docker://${host}/stress/app:${tag}`, `dir:${out}`);
      const manifest = await readFile(join(out, 'manifest.json'));
      expect(sha256(manifest)).toBe(digest);
      const parsed = JSON.parse(manifest.toString()) as {
        config: { digest: string };
        layers: { digest: string }[];
      };
      for (const blob of [parsed.config, ...parsed.layers]) {
        const content = await readFile(join(out, blob.digest.slice('sha256:'.length)));
        expect(`sha256:${createHash('sha256').update(content).digest('hex')}`).toBe(blob.digest);
      }
    }
    process.stderr.write(`stress: ${runs} collections, ${freed} blobs freed, ${retries} pushes retried\n`);
  });
});

describe('garbage collection at scale', () => {
  it('collects over 10,000 blobs and 1,000 manifests on the filesystem', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'regop-gc-scale-'));
    try {
      const driver = new FilesystemDriver({ rootDirectory: dir });
      const registry = new Registry(driver);
      const manifests: { repo: string; digest: Digest }[] = [];
      const work = Array.from({ length: 1000 }, (_, i) => i);
      const populate = async (i: number) => {
        const repo = `scale/r${i % 50}`;
        const blobs = Array.from({ length: 10 }, (_, j) => Buffer.from(`blob ${i}-${j} ${'x'.repeat(40)}`));
        for (const blob of blobs) {
          const digest = Digest.of('sha256', blob);
          await driver.putContent(paths.blobData(digest), blob);
          await registry.blobs.link(repo, digest);
        }
        const [config, ...layers] = blobs.map((b) => ({
          digest: `${Digest.of('sha256', b)}`,
          size: b.length,
        }));
        const body = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: MediaType.ociManifest,
            config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
            layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l })),
          }),
        );
        const { digest } = await registry.manifests.put(
          repo,
          { kind: 'tag', tag: `t${i}` },
          MediaType.ociManifest,
          body,
        );
        manifests.push({ repo, digest });
      };
      let next = 0;
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (next < work.length) await populate(next++);
        }),
      );
      // Delete one manifest in ten: its ten blobs and the manifest itself become garbage.
      for (const m of manifests.slice(0, 100)) await registry.manifests.delete(m.repo, m.digest);
      await new Promise((r) => setTimeout(r, 5));
      const result = await collectGarbage(driver, { graceMs: 0 });
      expect(result.manifestsMarked).toBe(900);
      expect(result.blobsDeleted).toHaveLength(1100);
      expect(result.blobsMarked).toBe(9900);
      for (const m of manifests.slice(100, 200)) {
        expect(
          (await registry.manifests.get(m.repo, { kind: 'digest', digest: m.digest })).digest.equals(
            m.digest,
          ),
        ).toBe(true);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
