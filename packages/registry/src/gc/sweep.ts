/**
 * The sweep: the only part of a collection that changes the store, and the only part that needs the lease.
 *
 * Why a push in flight is safe. The run starts at T0; the cutoff is T0 minus the grace period.
 *  1. The mark (mark.ts) walked repositories/, then blobs/. A blob is a candidate only if nothing kept reaches
 *     it, its data is older than the cutoff, and no repository link to it is younger than the cutoff: anything
 *     uploaded, linked or mounted since the cutoff is never a candidate.
 *  2. Candidates are not deleted but moved to a quarantine directory (`_gc/<run>/`), invisible to readers.
 *     Revisions nothing reached are deleted after deciding again with the tags read afresh, so one a push tagged
 *     since the mark stays.
 *  3. The rescan walks repositories/ again and finds every revision (one the mark kept, or one written since),
 *     the links to quarantined blobs written or rewritten since the mark read them, and, in each repository
 *     this run deleted revisions from, every tag. Whatever they reference is moved back out of quarantine, and
 *     a revision this run deleted that a tag or an index now reaches is restored, with its referrers. New is
 *     told from what the mark read, not by time alone: a store dates a file by when its bytes were written,
 *     which for a link moved into place can be before the run started (and a filesystem's clock is coarser
 *     than this process's).
 *  4. Only then is the quarantine deleted.
 * The registry does its half (content/manifests.ts, uploads.ts, blobs.ts): a manifest PUT makes its revision
 * visible and then checks its references again, undoing the PUT if one is gone; a commit that reuses existing
 * data links first and checks again; a mount checks again after linking. Either the registry's write became
 * visible before the rescan walked past it, and the rescan restores what it needs, or it became visible after
 * the quarantine, and its own re-check fails and undoes it: a client error and a retry, never a manifest
 * pointing at a deleted blob.
 * One collector runs at a time: it holds the storage lease (lease.ts) and checks it is still its own before
 * each destructive step; a crashed run's quarantine is restored by the next run (recoverQuarantines).
 */
import { randomBytes } from 'node:crypto';
import { type BaseDriver, isPathNotFound, mapLimited } from '@regop/storage';
import { deleteIfExists, listIfExists, readLink, statIfExists, writeLink } from '../content/links.js';
import { paths } from '../paths.js';
import { Digest } from '../reference.js';
import { addTo, type BlobInfo, currentTags, linkTimes, listRepositories } from './inventory.js';
import type { StorageLease } from './lease.js';
import { byDigest, linksToGone, type Plan, type Revision, stillUnreached, subjectDigest } from './plan.js';
import type { ManifestReader } from './references.js';
import type { GcEvent, Swept } from './types.js';

export interface Sweeper {
  driver: BaseDriver;
  lease: StorageLease;
  manifests: ManifestReader;
  emit: (event: GcEvent) => void;
}

const QUARANTINED = /^([a-z0-9]+)\/([0-9a-f]+)(?:\/data)?$/;

export async function sweep(plan: Plan, sweeper: Sweeper): Promise<Swept> {
  const { driver, lease, emit } = sweeper;
  await lease.check();
  await removeTags(plan, sweeper);
  const deleting = await deleteUnreached(plan, sweeper);
  const run = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(4).toString('hex')}`;
  const quarantined = await quarantine(plan.candidates, run, sweeper);
  const { protect, restored } = await rescan(plan, { run, deleted: deleting, quarantined }, sweeper);
  let blobsRestored = 0;
  for (const key of protect) {
    const blob = quarantined.get(key);
    if (!blob) continue;
    quarantined.delete(key);
    if (await statIfExists(driver, paths.blobData(blob.digest))) {
      await deleteIfExists(driver, paths.gcQuarantine(run, blob.digest));
    } else {
      await driver.move(paths.gcQuarantine(run, blob.digest), paths.blobData(blob.digest));
    }
    blobsRestored++;
    emit({ kind: 'restore-blob', digest: key });
  }
  // Deleting the quarantine is the deletion. The emptied blob directories stay: removing one could race with a
  // commit moving fresh data into it.
  await lease.check();
  await deleteIfExists(driver, paths.gcRun(run));
  for (const blob of quarantined.values())
    emit({ kind: 'delete-blob', digest: `${blob.digest}`, size: blob.size });
  const blobsDeleted = byDigest(
    [...quarantined.values()].map((b) => ({ digest: `${b.digest}`, size: b.size })),
  );
  // A manifest kept or put back was not deleted after all.
  const deleted = new Set(deleting.map((m) => `${m.repository}@${m.digest}`));
  const manifestsDeleted = plan.unreached
    .map((m) => ({ repository: m.repository, digest: `${m.digest}` }))
    .filter(
      (m) => deleted.has(`${m.repository}@${m.digest}`) && !restored.has(`${m.repository}@${m.digest}`),
    );
  return {
    manifestsDeleted,
    blobsDeleted,
    bytesFreed: blobsDeleted.reduce((n, b) => n + b.size, 0),
    blobsRestored,
    layerLinksRemoved: await pruneLinks(plan, new Set(quarantined.keys()), sweeper),
  };
}

/**
 * Removes the tags retention removes. A tag re-pushed since the mark read it is not this run's to remove. Its
 * time tells, by changing (either way: a store dates a tag by when its bytes were written).
 */
async function removeTags(plan: Plan, { driver, emit }: Sweeper): Promise<void> {
  for (const { repository, removed } of plan.removedTags) {
    const link = paths.tagCurrentLink(repository, removed.tag);
    const current = await statIfExists(driver, link);
    const digest = await readLink(driver, link);
    const repushed = current?.modTime.getTime() !== removed.pushed.getTime();
    if (!current || repushed || `${digest}` !== removed.digest) continue;
    await deleteIfExists(driver, paths.tagDir(repository, removed.tag));
    const { tag, reason } = removed;
    emit({ kind: 'remove-tag', repository, tag, digest: removed.digest, reason });
  }
}

/**
 * Deletes the revisions nothing reached. A push may have tagged one since the mark read the tags: the rescan
 * would put it back, but until then it would be missing, so the decision is taken again with the tags as they
 * are now.
 */
async function deleteUnreached(plan: Plan, { driver, manifests, emit }: Sweeper): Promise<Revision[]> {
  const byRepository = new Map<string, Digest[]>();
  for (const { repository, digest } of plan.unreached) addTo(byRepository, repository, digest);
  const deleting: Revision[] = [];
  for (const [repository, unreached] of byRepository) {
    const tagsNow = await currentTags(driver, repository);
    await manifests.readAll(tagsNow);
    const revisions = plan.inventory.revisions.get(repository) ?? [];
    const tagsBefore = (plan.tagged.get(repository) ?? []).map((t) => t.digest);
    const still = stillUnreached(
      unreached,
      { revisions, tagsBefore, tagsNow },
      plan.policy.governing(repository),
      plan.policy,
      (d) => manifests.known(d),
    );
    for (const digest of still) deleting.push({ repository, digest });
  }
  for (const { repository, digest } of deleting) {
    const subject = subjectDigest(await manifests.get(digest));
    await deleteIfExists(driver, paths.revisionDir(repository, digest));
    if (subject) await deleteIfExists(driver, paths.referrerLink(repository, subject, digest));
    emit({ kind: 'delete-manifest', repository, digest: `${digest}` });
  }
  return deleting;
}

/** Moves the candidates into this run's quarantine; one already gone is not there to move. */
async function quarantine(
  candidates: BlobInfo[],
  run: string,
  { driver, emit }: Sweeper,
): Promise<Map<string, BlobInfo>> {
  const quarantined = new Map<string, BlobInfo>();
  let moved = 0;
  await mapLimited(candidates, async (blob) => {
    try {
      await driver.move(paths.blobData(blob.digest), paths.gcQuarantine(run, blob.digest));
      quarantined.set(`${blob.digest}`, blob);
    } catch (err) {
      if (!isPathNotFound(err)) throw err;
    }
    if (++moved % 1000 === 0)
      emit({ kind: 'progress', phase: 'sweeping', done: moved, total: candidates.length });
  });
  return quarantined;
}

/**
 * Everything written since the mark, and everything it references: these blobs must survive (`protect`). A
 * revision this run deleted that a tag or a kept manifest now reaches (a tag or an index pushed meanwhile) is put
 * back, with its referrers (`restored`).
 */
async function rescan(
  plan: Plan,
  sweep: { run: string; deleted: Revision[]; quarantined: Map<string, BlobInfo> },
  { driver, manifests, emit }: Sweeper,
): Promise<{ protect: Set<string>; restored: Set<string> }> {
  const repos = await listRepositories(driver);
  const protect = new Set<string>();
  // Only a link to a quarantined blob can protect anything, and the mark read every link to one it saw.
  const links = [...repos.layers].flatMap(([repository, inRepository]) =>
    inRepository.filter((l) => sweep.quarantined.has(`${l.digest}`)).map((link) => ({ repository, link })),
  );
  const { cutoff } = plan.policy;
  (await linkTimes(driver, links)).forEach((linked, i) => {
    const { repository, link } = links[i] as (typeof links)[number];
    const key = `${repository}@${link.digest}`;
    const changed = !plan.linksRead.has(key) || plan.linksRead.get(key)?.getTime() !== linked?.getTime();
    if (linked && (changed || linked >= cutoff)) protect.add(`${link.digest}`);
  });
  // Every revision here was kept by the mark (its blobs are not in quarantine) or written since.
  const pending: Revision[] = [...repos.revisions].flatMap(([repository, digests]) =>
    digests.map((digest) => ({ repository, digest })),
  );
  // A tag names a revision listed here, unless this run deleted it: in a repository where it deleted any,
  // every tag is read, whatever its time.
  const deletedKeys = new Set(sweep.deleted.map(({ repository, digest }) => `${repository}@${digest}`));
  const deletedReferrers = new Map<string, Digest[]>();
  for (const { repository, digest } of sweep.deleted) {
    const subject = subjectDigest(await manifests.get(digest));
    if (subject) addTo(deletedReferrers, `${repository}@${subject}`, digest);
  }
  for (const repository of new Set(sweep.deleted.map((d) => d.repository))) {
    for (const digest of await currentTags(driver, repository)) pending.push({ repository, digest });
  }
  const seen = new Set<string>();
  const restored = new Set<string>();
  while (pending.length > 0) {
    const { repository, digest } = pending.pop() as Revision;
    const key = `${repository}@${digest}`;
    if (seen.has(key)) continue;
    seen.add(key);
    protect.add(`${digest}`);
    // A manifest read before reads the same now (its digest names it); one that could not be read is read again.
    const refs = await manifests.get(digest, { quarantine: sweep.run, retry: true });
    if (deletedKeys.has(key)) {
      await writeLink(driver, paths.revisionLink(repository, digest), digest);
      const subject = subjectDigest(refs);
      if (subject) await writeLink(driver, paths.referrerLink(repository, subject, digest), digest);
      restored.add(key);
      emit({ kind: 'restore-manifest', repository, digest: `${digest}` });
    }
    for (const blob of refs?.blobs ?? []) protect.add(blob);
    for (const child of refs?.children ?? []) {
      try {
        pending.push({ repository, digest: Digest.parse(child) });
      } catch {
        // Not a digest this registry stores: nothing to protect.
      }
    }
    for (const referrer of deletedReferrers.get(key) ?? []) pending.push({ repository, digest: referrer });
  }
  return { protect, restored };
}

/** Removes repository links to blobs that are now gone (old links only: a fresh one belongs to a push in flight). */
async function pruneLinks(plan: Plan, quarantined: ReadonlySet<string>, { driver, emit }: Sweeper) {
  let removed = 0;
  await mapLimited(linksToGone(plan, quarantined), async ({ repository, digest }) => {
    // The link's time, then its blob's absence, read just before the link goes (in one call where the driver
    // batches): a commit that links the blob again meanwhile writes its link first (content/uploads.ts).
    const [link, blob] = await driver.statMany([paths.layerLink(repository, digest), paths.blobData(digest)]);
    if (!link || link.modTime >= plan.policy.cutoff || blob) return;
    try {
      await deleteIfExists(driver, paths.layerDir(repository, digest));
      removed++;
    } catch (err) {
      // A link a push is rewriting right now: leave it for the next run.
      emit({ kind: 'warning', message: `kept link ${repository}@${digest}: ${(err as Error).message}` });
    }
  });
  return removed;
}

/** Puts back whatever a crashed run left in quarantine, then removes it. */
export async function recoverQuarantines(driver: BaseDriver, lease: StorageLease): Promise<void> {
  const runDirs = await listIfExists(driver, paths.gcRoot);
  if (runDirs.length > 0) await lease.check();
  for (const runDir of runDirs) {
    const leftovers: { path: string; digest: Digest }[] = [];
    await driver.walk(runDir, (info) => {
      // <alg>/<hex>, or <alg>/<hex>/data as runs before the flat layout left them.
      const [, alg, hex] = QUARANTINED.exec(info.path.slice(runDir.length + 1)) ?? [];
      if (!info.isDir && alg && hex)
        leftovers.push({ path: info.path, digest: Digest.parse(`${alg}:${hex}`) });
    });
    for (const { path, digest } of leftovers) {
      if (!(await statIfExists(driver, paths.blobData(digest))))
        await driver.move(path, paths.blobData(digest));
    }
    await deleteIfExists(driver, runDir);
  }
}
