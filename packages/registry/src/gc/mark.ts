/**
 * The mark: one walk of repositories/, then one of blobs/, reading tags and manifests beside the second; the
 * decisions (plan.ts) taken over what was read; then the sizes and times of only the blobs that may go and of
 * their links. It reads and never writes.
 */
import { type BaseDriver, mapLimited } from '@regop/storage';
import {
  blobInfos,
  type Dated,
  inventoryBlobs,
  inventoryRepositories,
  linkTimes,
  readTag,
} from './inventory.js';
import { linksToOld, markRevisions, type Plan, type Policy, sortUnmarked } from './plan.js';
import type { ManifestReader } from './references.js';
import type { TaggedManifest } from './retention.js';
import type { GcEvent } from './types.js';

/** Manifests read in one go, between progress reports. */
const MANIFESTS_AT_ONCE = 500;

export async function mark(
  driver: BaseDriver,
  manifests: ManifestReader,
  policy: Policy,
  emit: (event: GcEvent) => void,
): Promise<Plan> {
  const inventory = await inventoryRepositories(driver, { tags: policy.readsTags });
  const tagged = new Map<string, TaggedManifest[]>();
  const readTagsAndManifests = async () => {
    const tags = await mapLimited(inventory.tags, async (tag) => ({
      tag,
      digest: await readTag(driver, tag),
    }));
    for (const { tag, digest } of tags) {
      if (!digest) continue;
      const list = tagged.get(tag.repository) ?? [];
      list.push({ tag: tag.tag, digest: `${digest}`, pushed: tag.modTime });
      tagged.set(tag.repository, list);
    }
    const digests = [...inventory.revisions.values()].flat().map((r: Dated) => r.digest);
    for (let read = 0; read < digests.length; read += MANIFESTS_AT_ONCE) {
      await manifests.readAll(digests.slice(read, read + MANIFESTS_AT_ONCE));
      const done = Math.min(read + MANIFESTS_AT_ONCE, digests.length);
      emit({ kind: 'progress', phase: 'reading manifests', done, total: digests.length });
    }
  };
  // The walk of blobs/ comes after the walk of repositories/, as the sweep's safety argument needs. It runs
  // while tags and manifests are read: on an object store both wait on requests, on a filesystem they take
  // turns on this thread in slices.
  const [stored] = await Promise.all([inventoryBlobs(driver), readTagsAndManifests()]);

  const references = (digest: string) => manifests.known(digest);
  const marking = markRevisions(inventory.revisions, tagged, policy, references, emit);

  const unmarked = await blobInfos(
    driver,
    [...stored.values()].filter((b) => !marking.marked.has(`${b.digest}`)),
  );
  const links = linksToOld(unmarked, inventory.layers, policy);
  const times = await linkTimes(driver, links);
  return {
    ...marking,
    ...sortUnmarked(unmarked, links, times, policy),
    policy,
    inventory,
    tagged,
    stored: new Set(stored.keys()),
    unmarked,
  };
}
