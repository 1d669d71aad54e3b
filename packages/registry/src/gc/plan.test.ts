import { describe, expect, it } from 'vitest';
import { Digest } from '../reference.js';
import type { BlobInfo, Dated } from './inventory.js';
import {
  keptRevisions,
  linksToGone,
  linksToOld,
  type Mark,
  markRevisions,
  type Plan,
  planned,
  policyOf,
  type References,
  sortUnmarked,
  stillUnreached,
} from './plan.js';
import type { ManifestReferences } from './references.js';

// Plain data: digests named by words, times in hours before the run, manifests as their references.
const d = (name: string) => Digest.of('sha256', Buffer.from(name));
const NOW = Date.parse('2026-12-01T12:00:00Z');
const HOUR = 3_600_000;
const ago = (hours: number) => new Date(NOW - hours * HOUR);
const revision = (name: string, hours: number): Dated => ({ digest: d(name), modTime: ago(hours) });
const blob = (name: string, hours: number, size = 10): BlobInfo => ({ ...revision(name, hours), size });
const refs =
  (manifests: Record<string, Partial<ManifestReferences>>): References =>
  (digest) => {
    const name = Object.keys(manifests).find((n) => `${d(n)}` === digest);
    const m = name === undefined ? undefined : manifests[name];
    return m
      ? { blobs: m.blobs ?? [], children: m.children ?? [], ...(m.subject && { subject: m.subject }) }
      : null;
  };
const names = (set: Iterable<string>) => {
  const all = ['app', 'old', 'index', 'child', 'sig', 'orphan', 'new'];
  return [...set].map((s) => all.find((n) => `${d(n)}` === s) ?? s).sort();
};
const policy = (options: Parameters<typeof policyOf>[0] = {}) => policyOf({ graceMs: HOUR, ...options }, NOW);

const manifests = refs({
  app: { blobs: [`${d('layer-a')}`, `${d('config-a')}`] },
  old: { blobs: [`${d('layer-old')}`] },
  index: { children: [`${d('child')}`] },
  child: { blobs: [`${d('layer-c')}`] },
  sig: { blobs: [`${d('sig-blob')}`], subject: `${d('app')}` },
  orphan: { blobs: [`${d('layer-a')}`] },
});
const revisions = ['app', 'old', 'index', 'child', 'sig', 'orphan'].map((n) => revision(n, 5));

describe('the plan: which revisions stay', () => {
  it('keeps every revision when neither deleteUntagged nor a rule asks for tags', () => {
    const p = policy();
    expect(p.readsTags).toBe(false);
    const kept = keptRevisions(revisions, { before: [], kept: [] }, undefined, p, manifests);
    expect(kept.size).toBe(revisions.length);
  });

  it('with deleteUntagged keeps what tags reach through indexes and referrers, and recent revisions', () => {
    const p = policy({ deleteUntagged: true });
    const tags = [`${d('app')}`, `${d('index')}`];
    const recent = [...revisions, revision('new', 0.5)];
    const kept = keptRevisions(recent, { before: tags, kept: tags }, undefined, p, manifests);
    expect(names(kept)).toEqual(['app', 'child', 'index', 'new', 'sig']);
  });

  it('under a rule keeps untagged revisions it does not age out, and drops what only removed tags reached', () => {
    const rule = { repositories: 'team/**', keeplast: 1, untaggedolderthan: 24 * HOUR };
    const p = policy({ retention: [rule] });
    const governing = p.governing('team/app');
    expect(governing?.index).toBe(0);
    expect(p.governing('other')).toBeUndefined();
    const dated = [revision('app', 5), revision('old', 48), revision('orphan', 2), revision('child', 30)];
    // Tags reached app and old before; retention removed old's tag. orphan is young enough to be spared; child,
    // untagged for 30 hours, ages out.
    const kept = keptRevisions(
      dated,
      { before: [`${d('app')}`, `${d('old')}`], kept: [`${d('app')}`] },
      governing,
      p,
      manifests,
    );
    expect(names(kept)).toEqual(['app', 'orphan']);
  });
});

describe('the plan: marking', () => {
  it('removes the tags a rule removes (never one pushed within the grace period) and marks what stays', () => {
    const p = policy({ retention: [{ repositories: 'app', keeplast: 1 }] });
    const tagged = new Map([
      [
        'app',
        [
          { tag: 'v3', digest: `${d('app')}`, pushed: ago(0.1) },
          { tag: 'v2', digest: `${d('app')}`, pushed: ago(0.2) },
          { tag: 'v1', digest: `${d('old')}`, pushed: ago(10) },
        ],
      ],
    ]);
    const marks: Mark[] = [];
    const marking = markRevisions(
      new Map([['app', [revision('app', 5), revision('old', 10)]]]),
      tagged,
      p,
      manifests,
      (m) => marks.push(m),
    );
    // v2 is beyond keeplast but young: it stays.
    expect(marking.removedTags.map((t) => t.removed.tag)).toEqual(['v1']);
    expect(marking.removedTags[0]?.removed.reason).toBe('not among the 1 most recently pushed');
    expect(marking.unreached).toEqual([{ repository: 'app', digest: d('old') }]);
    expect(marking.rules).toEqual(new Map([['app', 0]]));
    expect(marking.manifestsMarked).toBe(1);
    expect(names(marking.marked)).toEqual(['app', `${d('config-a')}`, `${d('layer-a')}`].sort());
    expect(marks.map((m) => m.kind)).toEqual(['mark-manifest', 'mark-blob', 'mark-blob']);
  });

  it('decides again with the tags as they are now: a revision tagged since the mark stays', () => {
    const p = policy({ deleteUntagged: true });
    const dated = [revision('app', 5), revision('old', 5)];
    const before = { revisions: dated, tagsBefore: [`${d('app')}`] };
    expect(stillUnreached([d('old')], { ...before, tagsNow: [d('app')] }, undefined, p, manifests)).toEqual([
      d('old'),
    ]);
    expect(stillUnreached([d('old')], { ...before, tagsNow: [d('old')] }, undefined, p, manifests)).toEqual(
      [],
    );
    // A tag naming an index the mark never saw keeps the child it reaches.
    const child = [revision('app', 5), revision('child', 5)];
    expect(
      stillUnreached(
        [d('child')],
        { revisions: child, tagsBefore: [], tagsNow: [d('index')] },
        undefined,
        p,
        manifests,
      ),
    ).toEqual([]);
  });
});

describe('the plan: blobs', () => {
  const p = policy();
  const unmarked = [blob('old-blob', 5), blob('young-blob', 0.5), blob('relinked', 5), blob('unlinked', 5)];
  const layers = new Map([
    ['a', [{ digest: d('old-blob') }, { digest: d('relinked') }, { digest: d('marked') }]],
    ['b', [{ digest: d('young-blob') }, { digest: d('relinked') }]],
  ]);

  it('reads times only of links to old unmarked blobs, and keeps those linked within the grace period', () => {
    const links = linksToOld(unmarked, layers, p);
    expect(links.map((l) => `${l.repository}:${l.link.digest}`)).toEqual([
      `a:${d('old-blob')}`,
      `a:${d('relinked')}`,
      `b:${d('relinked')}`,
    ]);
    const sorted = sortUnmarked(unmarked, links, [ago(5), ago(6), ago(0.2)], p);
    expect(sorted.candidates.map((b) => b.digest)).toEqual([d('old-blob'), d('unlinked')]);
    expect(sorted.young.map((b) => b.digest)).toEqual([d('young-blob'), d('relinked')]);
    expect(sorted.linksRead.get(`b@${d('relinked')}`)).toEqual(ago(0.2));
  });

  it('reports the plan as a dry run, and names the links to blobs that are gone', () => {
    const links = linksToOld(unmarked, layers, p);
    const plan: Plan = {
      ...markRevisions(new Map(), new Map(), p, manifests),
      ...sortUnmarked(unmarked, links, [ago(5), ago(6), ago(0.2)], p),
      policy: p,
      inventory: { revisions: new Map(), layers, tags: [] },
      tagged: new Map(),
      stored: new Set([...unmarked.map((b) => `${b.digest}`)]),
      unmarked,
    };
    const report = planned(plan, manifests);
    expect(report).toMatchObject({
      dryRun: true,
      repositories: 2,
      bytesFreed: 20,
      keptForGrace: { blobs: 2, bytes: 20 },
      manifestsDeleted: [],
    });
    expect(report.blobsDeleted.map((b) => b.digest)).toEqual([`${d('old-blob')}`, `${d('unlinked')}`].sort());
    // The quarantined blob's link goes, and the link to a blob the mark did not find at all.
    expect(linksToGone(plan, new Set([`${d('old-blob')}`]))).toEqual([
      { repository: 'a', digest: d('old-blob') },
      { repository: 'a', digest: d('marked') },
    ]);
  });
});
