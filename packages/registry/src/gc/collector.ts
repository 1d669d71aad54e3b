/**
 * Mark and sweep garbage collection over distribution's storage layout, safe to run while registries
 * serve pushes from the same storage.
 *
 * How a push in flight is kept safe. The run starts at T0; `cutoff` is T0 minus the grace period.
 *  1. Inventory (one walk of repositories/, one of blobs/) and mark: every blob reachable from a kept
 *     manifest revision is marked. A blob is a candidate only if it is unmarked, its data is older than
 *     the cutoff, and no repository link to it is younger than the cutoff (so anything uploaded, linked or
 *     mounted since the cutoff is never a candidate). Only unmarked blobs and their links are stat'ed.
 *  2. Candidates are not deleted but moved to a quarantine directory (`_gc/<run>/`), invisible to readers.
 *     Revisions no tag reached (with deleteUntagged or retention) are deleted, after deciding again with the
 *     tags read afresh, so one a push tagged since the mark stays.
 *  3. Rescan: a second walk of repositories/ finds every revision (one the mark kept, or one written
 *     since), the links to quarantined blobs written or rewritten since the mark read them, and, in each
 *     repository this run deleted revisions from, every tag. Whatever they reference is moved back out of
 *     quarantine, and a revision this run deleted that a tag or an index now reaches is restored, with its
 *     referrers. (New is told from what the mark saw, not by time alone: a store dates a link by when its
 *     bytes were written, which for one moved into place can be before the run started.)
 *  4. Only then is the quarantine deleted.
 * The registry does its half (content/manifests.ts, uploads.ts, blobs.ts): a manifest PUT makes its
 * revision visible and then checks its references again, undoing the PUT if one is gone; a commit that
 * reuses existing data links first and checks again; a mount checks again after linking.
 * Either the registry's write became visible before the rescan walked past it, and the rescan restores what
 * it needs, or it became visible after the quarantine, and its own re-check fails and undoes it: a client
 * error and a retry, never a manifest pointing at a deleted blob.
 * One collector runs at a time: a real run holds the storage lease (lease.ts) and checks it is still its own
 * before each destructive step; a crashed run's quarantine is restored by the next run.
 */
import { randomBytes } from 'node:crypto';
import { type FileInfo, isPathNotFound, type StorageDriver } from '@regop/storage';
import { deleteIfExists, listIfExists, readLink, statIfExists, writeLink } from '../content/links.js';
import { paths } from '../paths.js';
import { Digest } from '../reference.js';
import {
  addTo,
  type BlobInfo,
  blobInfos,
  contentsOf,
  currentTags,
  type Dated,
  forEachLimited,
  inventoryBlobs,
  inventoryRepositories,
  type LayerLink,
  linkTimes,
  listRepositories,
  readTag,
} from './inventory.js';
import { type LeaseOptions, StorageLease } from './lease.js';
import { manifestReferences } from './references.js';
import {
  type CompiledRule,
  compileRules,
  type RemovedTag,
  type RetentionRule,
  type TaggedManifest,
} from './retention.js';

export interface CollectOptions {
  /** Report what would be deleted, change nothing. */
  dryRun?: boolean;
  /** Also delete manifests that no tag reaches (directly, through an index, or as a referrer). */
  deleteUntagged?: boolean;
  /** Content written less than this long (ms) before the run started is kept (default one hour). */
  graceMs?: number;
  /** Retention rules: which tags this run removes (see retention.ts); their manifests go with them. */
  retention?: RetentionRule[];
  /** How this run takes the storage lease (a dry run changes nothing and takes none). */
  lease?: LeaseOptions;
  onEvent?: (event: GcEvent) => void;
}

export type GcEvent =
  | { kind: 'mark-manifest'; repository: string; digest: string }
  | { kind: 'mark-blob'; repository: string; digest: string }
  | { kind: 'remove-tag'; repository: string; tag: string; digest: string; reason: string }
  | { kind: 'delete-manifest'; repository: string; digest: string }
  | { kind: 'delete-blob'; digest: string; size: number }
  | { kind: 'restore-blob'; digest: string }
  | { kind: 'restore-manifest'; repository: string; digest: string }
  | { kind: 'progress'; phase: string; done: number; total: number }
  | { kind: 'warning'; message: string };

export interface CollectResult {
  dryRun: boolean;
  repositories: number;
  manifestsMarked: number;
  blobsMarked: number;
  manifestsDeleted: { repository: string; digest: string }[];
  blobsDeleted: { digest: string; size: number }[];
  bytesFreed: number;
  /** Blobs taken back out of quarantine because a concurrent push needed them. */
  blobsRestored: number;
  /** Unreferenced blobs kept only because they were written or linked within the grace period. */
  keptForGrace: { blobs: number; bytes: number };
  layerLinksRemoved: number;
  /** What retention removed, per repository it removed something from. */
  retention: RetentionReport[];
  /** A real run's hold on the storage lease (ISO times): no other run's overlaps it. */
  lease?: { owner: string; heldFrom: string; heldUntil: string };
}

export interface RetentionReport {
  repository: string;
  /** The governing rule's position in the configured list. */
  rule: number;
  tagsRemoved: (Omit<RemovedTag, 'pushed'> & { pushed: string })[];
  manifestsRemoved: string[];
  /** Bytes of blobs only this repository's removed manifests used. */
  bytesFreed: number;
}

const quarantinePath = paths.gcQuarantine;
/** Manifests read in one go, between progress reports. */
const MANIFESTS_AT_ONCE = 500;
const QUARANTINED = /^([a-z0-9]+)\/([0-9a-f]+)(?:\/data)?$/;
/** Reports list blobs in one order, so a dry run's and the real run's compare. */
const byDigest = <T extends { digest: string }>(list: T[]) =>
  list.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));

export class GarbageCollector {
  private readonly manifestCache = new Map<string, ReturnType<typeof manifestReferences> | null>();

  constructor(
    private readonly driver: StorageDriver,
    private readonly options: CollectOptions = {},
  ) {}

  private emit(event: GcEvent): void {
    this.options.onEvent?.(event);
  }

  private emitRemovedTag(repository: string, { tag, digest, reason }: RemovedTag): void {
    this.emit({ kind: 'remove-tag', repository, tag, digest, reason });
  }

  /** Reads the manifests not read yet into the cache references() answers from (a missing one reads again). */
  private async readManifests(digests: Digest[]): Promise<void> {
    const unread = digests.filter((d) => !this.manifestCache.has(`${d}`));
    const contents = await contentsOf(
      this.driver,
      unread.map((d) => paths.blobData(d)),
    );
    unread.forEach((digest, i) => {
      const content = contents[i];
      if (!content) return;
      try {
        this.manifestCache.set(`${digest}`, manifestReferences(content));
      } catch (err) {
        if (!(err instanceof SyntaxError)) throw err;
        this.manifestCache.set(`${digest}`, null);
      }
    });
  }

  /** References of a manifest, read from its blob (or from a quarantine); null when unreadable. */
  private async references(digest: Digest, run?: string) {
    const key = `${digest}`;
    if (this.manifestCache.has(key)) return this.manifestCache.get(key) ?? null;
    let refs: ReturnType<typeof manifestReferences> | null = null;
    for (const path of [paths.blobData(digest), ...(run ? [quarantinePath(run, digest)] : [])]) {
      try {
        refs = manifestReferences(await this.driver.getContent(path));
        break;
      } catch (err) {
        if (!isPathNotFound(err) && !(err instanceof SyntaxError)) throw err;
      }
    }
    this.manifestCache.set(key, refs);
    return refs;
  }

  async collect(): Promise<CollectResult> {
    if (this.options.dryRun) return this.run(undefined);
    const lease = await StorageLease.acquire(this.driver, this.options.lease);
    const heldFrom = new Date().toISOString();
    try {
      const result = await this.run(lease);
      result.lease = { owner: lease.owner, heldFrom, heldUntil: new Date().toISOString() };
      return result;
    } finally {
      await lease.release();
    }
  }

  /** One run; `lease` is held for a real one, absent for a dry run. */
  private async run(lease: StorageLease | undefined): Promise<CollectResult> {
    const dryRun = lease === undefined;
    if (lease) await this.recoverQuarantines(lease);
    const started = Date.now();
    const cutoff = new Date(started - (this.options.graceMs ?? 3_600_000));
    const fresh = (d: { modTime: Date }) => d.modTime >= cutoff;

    // Mark.
    // Tags matter only to rules and deleteUntagged: without them every revision is kept, tagged or not.
    const tagsNeeded = !!this.options.deleteUntagged || (this.options.retention ?? []).length > 0;
    const repos = await inventoryRepositories(this.driver, { tags: tagsNeeded });
    const tagged = new Map<string, TaggedManifest[]>();
    const readTagsAndManifests = async () => {
      await forEachLimited(repos.tags, async (tag) => {
        const digest = await readTag(this.driver, tag);
        if (!digest) return;
        const list = tagged.get(tag.repository) ?? [];
        list.push({ tag: tag.tag, digest: `${digest}`, pushed: tag.modTime });
        tagged.set(tag.repository, list);
      });
      const digests = [...repos.revisions.values()].flat().map((r) => r.digest);
      for (let read = 0; read < digests.length; read += MANIFESTS_AT_ONCE) {
        await this.readManifests(digests.slice(read, read + MANIFESTS_AT_ONCE));
        this.emit({
          kind: 'progress',
          phase: 'reading manifests',
          done: Math.min(read + MANIFESTS_AT_ONCE, digests.length),
          total: digests.length,
        });
      }
    };
    // The walk of blobs/ (it comes after the walk of repositories/, as the safety argument above needs) runs
    // while tags and manifests are read: on an object store both wait on requests, on a filesystem they take
    // turns on this thread in slices.
    const [stored] = await Promise.all([inventoryBlobs(this.driver), readTagsAndManifests()]);

    const marked = new Set<string>();
    const untagged: { repository: string; digest: Digest }[] = [];
    const removedTags: { repository: string; removed: RemovedTag }[] = [];
    const governing = compileRules(this.options.retention ?? []);
    const rules = new Map<string, number>();
    let manifestsMarked = 0;
    for (const [repository, revisions] of repos.revisions) {
      const tags = tagged.get(repository) ?? [];
      const rule = governing(repository);
      // A tag pushed within the grace period belongs to a push in flight: never removed.
      const removed = (rule?.tagsToRemove(tags, started) ?? []).filter((t) => !fresh({ modTime: t.pushed }));
      if (rule) rules.set(repository, rule.index);
      for (const t of removed) removedTags.push({ repository, removed: t });
      const removedNames = new Set(removed.map((t) => t.tag));
      const keptTags = tags.filter((t) => !removedNames.has(t.tag)).map((t) => t.digest);
      const kept = await this.keptRevisions(
        revisions,
        tags.map((t) => t.digest),
        keptTags,
        rule,
        fresh,
        started,
      );
      for (const revision of revisions) {
        const key = `${revision.digest}`;
        if (!kept.has(key)) {
          untagged.push({ repository, digest: revision.digest });
          continue;
        }
        manifestsMarked++;
        this.emit({ kind: 'mark-manifest', repository, digest: key });
        marked.add(key);
        const refs = await this.references(revision.digest);
        for (const blob of [...(refs?.blobs ?? []), ...(refs?.children ?? [])]) {
          if (!marked.has(blob)) this.emit({ kind: 'mark-blob', repository, digest: blob });
          marked.add(blob);
        }
      }
    }

    // Candidates: unmarked, old, and not linked anywhere recently. Only these blobs and their links need
    // times (a stat each on a filesystem): most of a store is marked, and needs nothing but its names.
    const linkedFrom = new Map<string, { repository: string; link: LayerLink }[]>();
    for (const [repository, links] of repos.layers)
      for (const link of links) addTo(linkedFrom, `${link.digest}`, { repository, link });
    const unmarked = await blobInfos(
      this.driver,
      [...stored.values()].filter((b) => !marked.has(`${b.digest}`)),
    );
    const linksToOld = unmarked.filter((b) => !fresh(b)).flatMap((b) => linkedFrom.get(`${b.digest}`) ?? []);
    const recentlyLinked = new Set<string>();
    // What the mark read of each link to a candidate: the rescan tells a link written since by a change.
    const linksRead = new Map<string, Date | undefined>();
    (await linkTimes(this.driver, linksToOld)).forEach((linked, i) => {
      const { repository, link } = linksToOld[i] as { repository: string; link: LayerLink };
      linksRead.set(`${repository}@${link.digest}`, linked);
      if (linked && linked >= cutoff) recentlyLinked.add(`${link.digest}`);
    });
    const candidates = unmarked.filter((b) => !fresh(b) && !recentlyLinked.has(`${b.digest}`));
    const young = unmarked.filter((b) => fresh(b) || recentlyLinked.has(`${b.digest}`));

    const result: CollectResult = {
      dryRun,
      repositories: new Set([...repos.revisions.keys(), ...repos.layers.keys()]).size,
      manifestsMarked,
      blobsMarked: [...marked].filter((d) => stored.has(d)).length,
      manifestsDeleted: untagged.map((u) => ({ repository: u.repository, digest: `${u.digest}` })),
      blobsDeleted: byDigest(candidates.map((c) => ({ digest: `${c.digest}`, size: c.size }))),
      bytesFreed: candidates.reduce((n, c) => n + c.size, 0),
      blobsRestored: 0,
      keptForGrace: { blobs: young.length, bytes: young.reduce((n, b) => n + b.size, 0) },
      layerLinksRemoved: 0,
      retention: [],
    };
    const report = () =>
      retentionReports(removedTags, rules, result, (d) => this.references(Digest.parse(d)));
    if (dryRun) {
      for (const { repository, removed } of removedTags) this.emitRemovedTag(repository, removed);
      for (const m of result.manifestsDeleted) this.emit({ kind: 'delete-manifest', ...m });
      for (const b of result.blobsDeleted) this.emit({ kind: 'delete-blob', ...b });
      result.retention = await report();
      return result;
    }

    // Sweep, through the quarantine. Tags first: a tag re-pushed since the mark read it is not this run's to
    // remove. Its time tells, by changing (either way: a store dates a tag by when its bytes were written).
    await lease?.check();
    for (const { repository, removed } of removedTags) {
      const current = await statIfExists(this.driver, paths.tagCurrentLink(repository, removed.tag));
      const digest = await readLink(this.driver, paths.tagCurrentLink(repository, removed.tag));
      const repushed = current?.modTime.getTime() !== removed.pushed.getTime();
      if (!current || repushed || `${digest}` !== removed.digest) continue;
      await deleteIfExists(this.driver, paths.tagDir(repository, removed.tag));
      this.emitRemovedTag(repository, removed);
    }
    // A push may have tagged an unreached revision since the mark read the tags. The rescan would put it back,
    // but until then it would be missing: the decision is taken again with the tags as they are now.
    const deleting = await this.stillUnreached(untagged, repos.revisions, tagged, governing, fresh, started);
    for (const { repository, digest } of deleting) {
      await this.deleteRevision(repository, digest);
      this.emit({ kind: 'delete-manifest', repository, digest: `${digest}` });
    }
    const run = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(4).toString('hex')}`;
    const quarantined = new Map<string, BlobInfo>();
    let moved = 0;
    await forEachLimited(candidates, async (blob) => {
      try {
        await this.driver.move(paths.blobData(blob.digest), quarantinePath(run, blob.digest));
        quarantined.set(`${blob.digest}`, blob);
      } catch (err) {
        if (!isPathNotFound(err)) throw err;
      }
      if (++moved % 1000 === 0)
        this.emit({ kind: 'progress', phase: 'sweeping', done: moved, total: candidates.length });
    });

    const { protect, restored } = await this.rescan(cutoff, run, deleting, linksRead, quarantined);
    // A manifest kept or put back was not deleted after all.
    const deleted = new Set(deleting.map((m) => `${m.repository}@${m.digest}`));
    result.manifestsDeleted = result.manifestsDeleted.filter(
      (m) => deleted.has(`${m.repository}@${m.digest}`) && !restored.has(`${m.repository}@${m.digest}`),
    );
    for (const key of protect) {
      const blob = quarantined.get(key);
      if (!blob) continue;
      quarantined.delete(key);
      if (await statIfExists(this.driver, paths.blobData(blob.digest))) {
        await deleteIfExists(this.driver, quarantinePath(run, blob.digest));
      } else {
        await this.driver.move(quarantinePath(run, blob.digest), paths.blobData(blob.digest));
      }
      result.blobsRestored++;
      this.emit({ kind: 'restore-blob', digest: key });
    }
    // Deleting the quarantine is the deletion. The emptied blob directories stay: removing one could race
    // with a commit moving fresh data into it.
    await lease?.check();
    await deleteIfExists(this.driver, paths.gcRun(run));
    for (const blob of quarantined.values())
      this.emit({ kind: 'delete-blob', digest: `${blob.digest}`, size: blob.size });
    result.blobsDeleted = byDigest(
      [...quarantined.values()].map((b) => ({ digest: `${b.digest}`, size: b.size })),
    );
    result.bytesFreed = result.blobsDeleted.reduce((n, b) => n + b.size, 0);
    result.retention = await report();

    // Repository links to blobs that are now gone (old links only: a fresh one belongs to a push in flight).
    const unmarkedStored = new Set(unmarked.map((b) => `${b.digest}`));
    const gone = (d: Digest) => {
      const key = `${d}`;
      return quarantined.has(key) || (marked.has(key) ? !stored.has(key) : !unmarkedStored.has(key));
    };
    const staleLinks = [...repos.layers].flatMap(([repository, links]) =>
      links.filter((l) => gone(l.digest)).map(({ digest }) => ({ repository, digest })),
    );
    await forEachLimited(staleLinks, async ({ repository, digest }) => {
      // The link's time, then its blob's absence, read just before the link goes (in one call where the
      // driver batches): a commit that links the blob again meanwhile writes its link first (content/uploads.ts).
      const link = paths.layerLink(repository, digest);
      const data = paths.blobData(digest);
      const old = (info: FileInfo | undefined) => info !== undefined && info.modTime < cutoff;
      let stale: boolean;
      if (this.driver.statMany) {
        const [current, blob] = await this.driver.statMany([link, data]);
        stale = old(current) && !blob;
      } else {
        stale = old(await statIfExists(this.driver, link)) && !(await statIfExists(this.driver, data));
      }
      if (!stale) return;
      try {
        await deleteIfExists(this.driver, paths.layerDir(repository, digest));
        result.layerLinksRemoved++;
      } catch (err) {
        // A link a push is rewriting right now: leave it for the next run.
        this.emit({
          kind: 'warning',
          message: `kept link ${repository}@${digest}: ${(err as Error).message}`,
        });
      }
    });
    return result;
  }

  /**
   * Revisions to keep. Without a retention rule: all of them, or with deleteUntagged those reachable from
   * tags (and recent ones). Under a rule: what the kept tags reach, recent ones, and those no tag reached
   * before that the rule (untaggedolderthan) and deleteUntagged spare. Reaching follows index children and
   * referrers (signatures and SBOMs stay with their subject and go with it).
   */
  private async keptRevisions(
    revisions: Dated[],
    tagged: string[],
    keptTagged: string[],
    rule: CompiledRule | undefined,
    fresh: (d: Dated) => boolean,
    now: number,
  ): Promise<Set<string>> {
    const all = new Set(revisions.map((r) => `${r.digest}`));
    if (!this.options.deleteUntagged && !rule) return all;
    // Referrers are kept with their subject: index them by subject.
    const referrers = new Map<string, string[]>();
    for (const r of revisions) {
      const subject = (await this.references(r.digest))?.subject;
      if (subject) referrers.set(subject, [...(referrers.get(subject) ?? []), `${r.digest}`]);
    }
    const reach = async (roots: string[]) => {
      const reached = new Set<string>();
      const queue = roots.filter((d) => all.has(d));
      while (queue.length > 0) {
        const digest = queue.pop() as string;
        if (reached.has(digest)) continue;
        reached.add(digest);
        const refs = await this.references(Digest.parse(digest));
        for (const next of [...(refs?.children ?? []), ...(referrers.get(digest) ?? [])]) {
          if (all.has(next) && !reached.has(next)) queue.push(next);
        }
      }
      return reached;
    };
    const recent = revisions.filter(fresh).map((r) => `${r.digest}`);
    if (!rule) return reach([...tagged, ...recent]);
    const reachedBefore = await reach(tagged);
    const untaggedAge = rule.rule.untaggedolderthan;
    const spared = revisions
      .filter(
        (r) =>
          !reachedBefore.has(`${r.digest}`) &&
          !this.options.deleteUntagged &&
          !(untaggedAge !== undefined && r.modTime.getTime() < now - untaggedAge),
      )
      .map((r) => `${r.digest}`);
    return reach([...keptTagged, ...recent, ...spared]);
  }

  /**
   * Of the revisions the mark found unreached, those still unreached with the tags read again: the same decision
   * (retention's removed tags are gone by now, and still count as having reached what they reached), with a
   * revision a tag names now kept even if it is newer than the mark.
   */
  private async stillUnreached(
    unreached: { repository: string; digest: Digest }[],
    revisions: Map<string, Dated[]>,
    tagged: Map<string, TaggedManifest[]>,
    governing: (repository: string) => CompiledRule | undefined,
    fresh: (d: Dated) => boolean,
    now: number,
  ): Promise<{ repository: string; digest: Digest }[]> {
    const byRepository = new Map<string, Digest[]>();
    for (const { repository, digest } of unreached) addTo(byRepository, repository, digest);
    const still: { repository: string; digest: Digest }[] = [];
    for (const [repository, digests] of byRepository) {
      const tags = await currentTags(this.driver, repository);
      const known = revisions.get(repository) ?? [];
      const listed = new Set(known.map((r) => `${r.digest}`));
      const added = tags
        .filter((d) => !listed.has(`${d}`))
        .map((digest) => ({ digest, modTime: new Date(now) }));
      const tagDigests = tags.map((d) => `${d}`);
      const before = (tagged.get(repository) ?? []).map((t) => t.digest);
      const kept = await this.keptRevisions(
        [...known, ...added],
        [...before, ...tagDigests],
        tagDigests,
        governing(repository),
        fresh,
        now,
      );
      for (const digest of digests) if (!kept.has(`${digest}`)) still.push({ repository, digest });
    }
    return still;
  }

  private async deleteRevision(repository: string, digest: Digest): Promise<void> {
    const subject = await this.subjectOf(digest);
    await deleteIfExists(this.driver, paths.revisionDir(repository, digest));
    if (subject) await deleteIfExists(this.driver, paths.referrerLink(repository, subject, digest));
  }

  private async restoreRevision(repository: string, digest: Digest): Promise<void> {
    await writeLink(this.driver, paths.revisionLink(repository, digest), digest);
    const subject = await this.subjectOf(digest);
    if (subject) await writeLink(this.driver, paths.referrerLink(repository, subject, digest), digest);
  }

  /** The manifest's subject; undefined without one, or with a digest no referrer link can be named by. */
  private async subjectOf(digest: Digest): Promise<Digest | undefined> {
    const subject = (await this.references(digest))?.subject;
    try {
      return subject === undefined ? undefined : Digest.parse(subject);
    } catch {
      return undefined;
    }
  }

  /**
   * Everything written since the mark, and everything it references: these blobs must survive. A revision this
   * run deleted that a tag or a kept manifest now reaches (a tag or an index pushed meanwhile) is put back, with
   * its referrers.
   * What is new is told from what the mark read, not by the cutoff alone: a store dates a file by when its bytes
   * were written, which for a link moved into place can be before this run started (and a filesystem's clock
   * is coarser than this process's).
   */
  private async rescan(
    cutoff: Date,
    run: string,
    deleted: { repository: string; digest: Digest }[],
    linksRead: Map<string, Date | undefined>,
    quarantined: Map<string, BlobInfo>,
  ): Promise<{ protect: Set<string>; restored: Set<string> }> {
    const repos = await listRepositories(this.driver);
    const protect = new Set<string>();
    // Only a link to a quarantined blob can protect anything, and the mark read every link to one it saw.
    const links = [...repos.layers].flatMap(([repository, inRepository]) =>
      inRepository.filter((l) => quarantined.has(`${l.digest}`)).map((link) => ({ repository, link })),
    );
    (await linkTimes(this.driver, links)).forEach((linked, i) => {
      const { repository, link } = links[i] as { repository: string; link: LayerLink };
      const key = `${repository}@${link.digest}`;
      const changed = !linksRead.has(key) || linksRead.get(key)?.getTime() !== linked?.getTime();
      if (linked && (changed || linked >= cutoff)) protect.add(`${link.digest}`);
    });
    // Every revision here was kept by the mark (its blobs are not in quarantine) or written since.
    const manifests = [...repos.revisions].flatMap(([repository, digests]) =>
      digests.map((digest) => ({ repository, digest })),
    );
    // A tag names a revision listed here, unless this run deleted it: in a repository where it deleted any,
    // every tag is read, whatever its time.
    const deletedKeys = new Set(deleted.map(({ repository, digest }) => `${repository}@${digest}`));
    const deletedReferrers = new Map<string, Digest[]>();
    for (const { repository, digest } of deleted) {
      const subject = await this.subjectOf(digest);
      if (subject) addTo(deletedReferrers, `${repository}@${subject}`, digest);
    }
    for (const repository of new Set(deleted.map((d) => d.repository))) {
      for (const digest of await currentTags(this.driver, repository)) manifests.push({ repository, digest });
    }
    const seen = new Set<string>();
    const restored = new Set<string>();
    while (manifests.length > 0) {
      const { repository, digest } = manifests.pop() as { repository: string; digest: Digest };
      const key = `${repository}@${digest}`;
      if (seen.has(key)) continue;
      seen.add(key);
      protect.add(`${digest}`);
      if (deletedKeys.has(key)) {
        await this.restoreRevision(repository, digest);
        restored.add(key);
        this.emit({ kind: 'restore-manifest', repository, digest: `${digest}` });
      }
      // A manifest read before reads the same now (its digest names it); one that could not be read is read again.
      if (this.manifestCache.get(`${digest}`) === null) this.manifestCache.delete(`${digest}`);
      const refs = await this.references(digest, run);
      for (const blob of refs?.blobs ?? []) protect.add(blob);
      for (const child of refs?.children ?? []) {
        try {
          manifests.push({ repository, digest: Digest.parse(child) });
        } catch {
          // Not a digest this registry stores: nothing to protect.
        }
      }
      for (const referrer of deletedReferrers.get(key) ?? [])
        manifests.push({ repository, digest: referrer });
    }
    return { protect, restored };
  }

  /** Puts back whatever a crashed run left in quarantine, then removes it. */
  private async recoverQuarantines(lease: StorageLease): Promise<void> {
    const runDirs = await listIfExists(this.driver, paths.gcRoot);
    if (runDirs.length > 0) await lease.check();
    for (const runDir of runDirs) {
      const leftovers: { path: string; digest: Digest }[] = [];
      await this.driver.walk(runDir, (info) => {
        // <alg>/<hex>, or <alg>/<hex>/data as runs before the flat layout left them.
        const [, alg, hex] = QUARANTINED.exec(info.path.slice(runDir.length + 1)) ?? [];
        if (!info.isDir && alg && hex)
          leftovers.push({ path: info.path, digest: Digest.parse(`${alg}:${hex}`) });
      });
      for (const { path, digest } of leftovers) {
        if (!(await statIfExists(this.driver, paths.blobData(digest))))
          await this.driver.move(path, paths.blobData(digest));
      }
      await deleteIfExists(this.driver, runDir);
    }
  }
}

/** Runs one collection (see GarbageCollector). */
export function collectGarbage(driver: StorageDriver, options: CollectOptions = {}): Promise<CollectResult> {
  return new GarbageCollector(driver, options).collect();
}

/**
 * Per repository that retention removed something from: its tags and manifests removed, and the bytes of the
 * freed blobs that only its removed manifests used (a blob several repositories' removals freed counts in the
 * total only).
 */
async function retentionReports(
  removedTags: { repository: string; removed: RemovedTag }[],
  rules: Map<string, number>,
  result: CollectResult,
  references: (digest: string) => Promise<{ blobs: string[]; children: string[] } | null>,
): Promise<RetentionReport[]> {
  const reports = new Map<string, RetentionReport>();
  const reportOf = (repository: string) => {
    let report = reports.get(repository);
    if (!report) {
      report = {
        repository,
        rule: rules.get(repository) ?? -1,
        tagsRemoved: [],
        manifestsRemoved: [],
        bytesFreed: 0,
      };
      reports.set(repository, report);
    }
    return report;
  };
  for (const { repository, removed } of removedTags)
    reportOf(repository).tagsRemoved.push({ ...removed, pushed: removed.pushed.toISOString() });
  const usedBy = new Map<string, Set<string>>();
  for (const { repository, digest } of result.manifestsDeleted) {
    if (!rules.has(repository)) continue;
    reportOf(repository).manifestsRemoved.push(digest);
    const refs = await references(digest);
    for (const blob of [digest, ...(refs?.blobs ?? [])]) {
      const repositories = usedBy.get(blob) ?? new Set<string>();
      repositories.add(repository);
      usedBy.set(blob, repositories);
    }
  }
  for (const blob of result.blobsDeleted) {
    const repositories = usedBy.get(blob.digest);
    if (repositories?.size === 1) reportOf([...repositories][0] as string).bytesFreed += blob.size;
  }
  return [...reports.values()].sort((a, b) => a.repository.localeCompare(b.repository));
}
