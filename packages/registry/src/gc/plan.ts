/**
 * The collector's decisions, over what the mark read: which tags retention removes, which revisions stay, which
 * blobs are marked, which may go and which the grace period keeps. No I/O: everything here is a function of
 * its arguments, so each decision is tested with plain data.
 */
import { Digest } from '../reference.js';
import { addTo, type BlobInfo, type Dated, type LayerLink, type RepositoryInventory } from './inventory.js';
import type { ManifestReferences } from './references.js';
import { type CompiledRule, compileRules, type RemovedTag, type TaggedManifest } from './retention.js';
import type { CollectOptions, CollectResult, RetentionReport, Swept } from './types.js';

/** A manifest revision in a repository. */
export interface Revision {
  repository: string;
  digest: Digest;
}

/** What a manifest references, as read during the run (null: missing or unreadable). */
export type References = (digest: string) => ManifestReferences | null;

/** How a run decides: its clock and its rules. */
export interface Policy {
  /** When the run started (ms). */
  now: number;
  /** Content written at or after this belongs to a push that may be in flight: it is never taken. */
  cutoff: Date;
  deleteUntagged: boolean;
  /** The retention rule governing a repository, if any. */
  governing: (repository: string) => CompiledRule | undefined;
  /** Tags matter only to rules and deleteUntagged: without them every revision is kept, tagged or not. */
  readsTags: boolean;
}

export function policyOf(options: CollectOptions, now: number): Policy {
  const rules = options.retention ?? [];
  const deleteUntagged = !!options.deleteUntagged;
  return {
    now,
    cutoff: new Date(now - (options.graceMs ?? 3_600_000)),
    deleteUntagged,
    governing: compileRules(rules),
    readsTags: deleteUntagged || rules.length > 0,
  };
}

const fresh = (policy: Policy, modTime: Date) => modTime >= policy.cutoff;

/** A link to a blob, in the repository that holds it. */
export interface RepositoryLink {
  repository: string;
  link: LayerLink;
}

/** What the mark decided, with what it read that the sweep checks its changes against. */
export interface Plan extends Marking {
  policy: Policy;
  inventory: RepositoryInventory<Dated>;
  tagged: Map<string, TaggedManifest[]>;
  /** Every blob in blobs/, by digest. */
  stored: Set<string>;
  /** Unmarked blobs whose data is still there, with their sizes and times. */
  unmarked: BlobInfo[];
  /** Unmarked, older than the cutoff, and linked nowhere since it: what the sweep quarantines. */
  candidates: BlobInfo[];
  /** Unmarked but kept for the grace period. */
  young: BlobInfo[];
  /** The time the mark read of each link to an old unmarked blob (`repository@digest`). */
  linksRead: Map<string, Date | undefined>;
}

/** A manifest or blob marked, as the run's events tell it. */
export interface Mark {
  kind: 'mark-manifest' | 'mark-blob';
  repository: string;
  digest: string;
}

/** One repository's marking: the tags retention removes and the revisions kept and not. */
export interface Marking {
  /** Manifests and blobs kept revisions reach. */
  marked: Set<string>;
  manifestsMarked: number;
  /** Revisions nothing kept reaches: the sweep deletes them (deciding again first). */
  unreached: Revision[];
  removedTags: { repository: string; removed: RemovedTag }[];
  /** The governing rule's position, per repository a rule governs. */
  rules: Map<string, number>;
}

/**
 * Marks what every repository keeps: retention applied, then everything kept revisions reach. Each mark is told
 * to `onMark` as it is made (not kept: a store's marks are as many as its blobs).
 */
export function markRevisions(
  revisions: Map<string, Dated[]>,
  tagged: Map<string, TaggedManifest[]>,
  policy: Policy,
  references: References,
  onMark: (mark: Mark) => void = () => {},
): Marking {
  const marking: Marking = {
    marked: new Set(),
    manifestsMarked: 0,
    unreached: [],
    removedTags: [],
    rules: new Map(),
  };
  for (const [repository, dated] of revisions) {
    const tags = tagged.get(repository) ?? [];
    const rule = policy.governing(repository);
    // A tag pushed within the grace period belongs to a push in flight: never removed.
    const removed = (rule?.tagsToRemove(tags, policy.now) ?? []).filter((t) => !fresh(policy, t.pushed));
    if (rule) marking.rules.set(repository, rule.index);
    for (const t of removed) marking.removedTags.push({ repository, removed: t });
    const removedNames = new Set(removed.map((t) => t.tag));
    const kept = keptRevisions(
      dated,
      {
        before: tags.map((t) => t.digest),
        kept: tags.filter((t) => !removedNames.has(t.tag)).map((t) => t.digest),
      },
      rule,
      policy,
      references,
    );
    for (const revision of dated) {
      const digest = `${revision.digest}`;
      if (!kept.has(digest)) {
        marking.unreached.push({ repository, digest: revision.digest });
        continue;
      }
      marking.manifestsMarked++;
      onMark({ kind: 'mark-manifest', repository, digest });
      marking.marked.add(digest);
      const refs = references(digest);
      for (const blob of [...(refs?.blobs ?? []), ...(refs?.children ?? [])]) {
        if (!marking.marked.has(blob)) onMark({ kind: 'mark-blob', repository, digest: blob });
        marking.marked.add(blob);
      }
    }
  }
  return marking;
}

/**
 * Revisions to keep. Without a retention rule: all of them, or with deleteUntagged those reachable from
 * tags (and recent ones). Under a rule: what the kept tags reach, recent ones, and those no tag reached
 * before that the rule (untaggedolderthan) and deleteUntagged spare. Reaching follows index children and
 * referrers (signatures and SBOMs stay with their subject and go with it).
 */
export function keptRevisions(
  revisions: Dated[],
  tags: { before: string[]; kept: string[] },
  rule: CompiledRule | undefined,
  policy: Policy,
  references: References,
): Set<string> {
  const all = new Set(revisions.map((r) => `${r.digest}`));
  if (!policy.deleteUntagged && !rule) return all;
  const referrers = new Map<string, string[]>();
  for (const r of revisions) {
    const subject = references(`${r.digest}`)?.subject;
    if (subject) addTo(referrers, subject, `${r.digest}`);
  }
  const reach = (roots: string[]) => {
    const reached = new Set<string>();
    const queue = roots.filter((d) => all.has(d));
    while (queue.length > 0) {
      const digest = queue.pop() as string;
      if (reached.has(digest)) continue;
      reached.add(digest);
      for (const next of [...(references(digest)?.children ?? []), ...(referrers.get(digest) ?? [])]) {
        if (all.has(next) && !reached.has(next)) queue.push(next);
      }
    }
    return reached;
  };
  const recent = revisions.filter((r) => fresh(policy, r.modTime)).map((r) => `${r.digest}`);
  if (!rule) return reach([...tags.before, ...recent]);
  const reachedBefore = reach(tags.before);
  const untaggedAge = rule.rule.untaggedolderthan;
  const spared = revisions
    .filter(
      (r) =>
        !reachedBefore.has(`${r.digest}`) &&
        !policy.deleteUntagged &&
        !(untaggedAge !== undefined && r.modTime.getTime() < policy.now - untaggedAge),
    )
    .map((r) => `${r.digest}`);
  return reach([...tags.kept, ...recent, ...spared]);
}

/**
 * Of a repository's revisions the mark left unreached, those still unreached with its tags as they are now:
 * the same decision (retention's removed tags are gone by now, and still count as having reached what they
 * reached), with a revision a tag names now kept even if the mark never saw it.
 */
export function stillUnreached(
  unreached: Digest[],
  repository: { revisions: Dated[]; tagsBefore: string[]; tagsNow: Digest[] },
  rule: CompiledRule | undefined,
  policy: Policy,
  references: References,
): Digest[] {
  const listed = new Set(repository.revisions.map((r) => `${r.digest}`));
  const added = repository.tagsNow
    .filter((d) => !listed.has(`${d}`))
    .map((digest) => ({ digest, modTime: new Date(policy.now) }));
  const tagsNow = repository.tagsNow.map((d) => `${d}`);
  const kept = keptRevisions(
    [...repository.revisions, ...added],
    { before: [...repository.tagsBefore, ...tagsNow], kept: tagsNow },
    rule,
    policy,
    references,
  );
  return unreached.filter((d) => !kept.has(`${d}`));
}

/**
 * Links to unmarked blobs older than the cutoff: only those blobs can go, and only their links' times are
 * needed (a stat each on a filesystem; most of a store is marked and needs nothing but its names).
 */
export function linksToOld(
  unmarked: BlobInfo[],
  layers: Map<string, LayerLink[]>,
  policy: Policy,
): RepositoryLink[] {
  const old = new Set(unmarked.filter((b) => !fresh(policy, b.modTime)).map((b) => `${b.digest}`));
  return [...layers].flatMap(([repository, links]) =>
    links.filter((l) => old.has(`${l.digest}`)).map((link) => ({ repository, link })),
  );
}

/** Candidates (unmarked, old, not linked anywhere since the cutoff) and the blobs the grace period keeps. */
export function sortUnmarked(
  unmarked: BlobInfo[],
  links: RepositoryLink[],
  linkTimes: (Date | undefined)[],
  policy: Policy,
): Pick<Plan, 'candidates' | 'young' | 'linksRead'> {
  const recentlyLinked = new Set<string>();
  const linksRead = new Map<string, Date | undefined>();
  links.forEach(({ repository, link }, i) => {
    const linked = linkTimes[i];
    linksRead.set(`${repository}@${link.digest}`, linked);
    if (linked && fresh(policy, linked)) recentlyLinked.add(`${link.digest}`);
  });
  const young = (b: BlobInfo) => fresh(policy, b.modTime) || recentlyLinked.has(`${b.digest}`);
  return {
    candidates: unmarked.filter((b) => !young(b)),
    young: unmarked.filter(young),
    linksRead,
  };
}

/** Layer links whose blobs are gone (none is stat'ed: what the mark and the sweep saw tells). */
export function linksToGone(plan: Plan, quarantined: ReadonlySet<string>): Revision[] {
  const unmarkedStored = new Set(plan.unmarked.map((b) => `${b.digest}`));
  const gone = (key: string) =>
    quarantined.has(key) || (plan.marked.has(key) ? !plan.stored.has(key) : !unmarkedStored.has(key));
  return [...plan.inventory.layers].flatMap(([repository, links]) =>
    links.filter((l) => gone(`${l.digest}`)).map(({ digest }) => ({ repository, digest })),
  );
}

/** Reports list blobs in one order, so a dry run's and the real run's compare. */
export const byDigest = <T extends { digest: string }>(list: T[]) =>
  list.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));

/** What a dry run would delete: the plan's unreached revisions and candidates. */
function wouldSweep(plan: Plan): Swept {
  const blobsDeleted = byDigest(plan.candidates.map((c) => ({ digest: `${c.digest}`, size: c.size })));
  return {
    manifestsDeleted: plan.unreached.map((u) => ({ repository: u.repository, digest: `${u.digest}` })),
    blobsDeleted,
    bytesFreed: blobsDeleted.reduce((n, b) => n + b.size, 0),
    blobsRestored: 0,
    layerLinksRemoved: 0,
  };
}

/** The run's report: of the plan alone (a dry run), or of what the sweep did. */
export function planned(plan: Plan, references: References, swept?: Swept): CollectResult {
  const done = swept ?? wouldSweep(plan);
  return {
    dryRun: swept === undefined,
    repositories: new Set([...plan.inventory.revisions.keys(), ...plan.inventory.layers.keys()]).size,
    manifestsMarked: plan.manifestsMarked,
    blobsMarked: [...plan.marked].filter((d) => plan.stored.has(d)).length,
    manifestsDeleted: done.manifestsDeleted,
    blobsDeleted: done.blobsDeleted,
    bytesFreed: done.bytesFreed,
    blobsRestored: done.blobsRestored,
    keptForGrace: { blobs: plan.young.length, bytes: plan.young.reduce((n, b) => n + b.size, 0) },
    layerLinksRemoved: done.layerLinksRemoved,
    retention: retentionReports(plan, done, references),
  };
}

/**
 * Per repository that retention removed something from: its tags and manifests removed, and the bytes of the
 * freed blobs that only its removed manifests used (a blob several repositories' removals freed counts in the
 * total only).
 */
function retentionReports(
  plan: Pick<Plan, 'removedTags' | 'rules'>,
  deleted: Pick<CollectResult, 'manifestsDeleted' | 'blobsDeleted'>,
  references: References,
): RetentionReport[] {
  const reports = new Map<string, RetentionReport>();
  const reportOf = (repository: string) => {
    let report = reports.get(repository);
    if (!report) {
      const rule = plan.rules.get(repository) ?? -1;
      report = { repository, rule, tagsRemoved: [], manifestsRemoved: [], bytesFreed: 0 };
      reports.set(repository, report);
    }
    return report;
  };
  for (const { repository, removed } of plan.removedTags)
    reportOf(repository).tagsRemoved.push({ ...removed, pushed: removed.pushed.toISOString() });
  const usedBy = new Map<string, Set<string>>();
  for (const { repository, digest } of deleted.manifestsDeleted) {
    if (!plan.rules.has(repository)) continue;
    reportOf(repository).manifestsRemoved.push(digest);
    for (const blob of [digest, ...(references(digest)?.blobs ?? [])]) {
      const repositories = usedBy.get(blob) ?? new Set<string>();
      repositories.add(repository);
      usedBy.set(blob, repositories);
    }
  }
  for (const blob of deleted.blobsDeleted) {
    const repositories = usedBy.get(blob.digest);
    if (repositories?.size === 1) reportOf([...repositories][0] as string).bytesFreed += blob.size;
  }
  return [...reports.values()].sort((a, b) => a.repository.localeCompare(b.repository));
}

/** A digest a referrer link can be named by; undefined for anything else. */
export function subjectDigest(refs: ManifestReferences | null): Digest | undefined {
  try {
    return refs?.subject === undefined ? undefined : Digest.parse(refs.subject);
  } catch {
    return undefined;
  }
}
