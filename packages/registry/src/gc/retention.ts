/**
 * Retention rules: which tags a collection removes. Each repository is governed by the first rule whose glob
 * matches its name (repositories no rule matches keep every tag). Within a rule, `keeplast` removes all but the
 * newest N tags and `tagsolderthan` those pushed before a time; with both, a tag goes only when both say so.
 * `keeptags` keeps what it matches whatever the others say. The manifests only removed tags reached, and their
 * referrers, go with them (collector.ts).
 */

export interface RetentionRule {
  /** Glob over repository names: `*` within one path segment, `**` across segments, `?` one character. */
  repositories: string;
  /** Keep the N most recently pushed tags; the rest are removed (unless keeptags keeps them). */
  keeplast?: number;
  /** Regular expressions: matching tags are always kept. */
  keeptags?: string[];
  /** Remove manifests no tag reaches that were pushed longer ago than this (ms). */
  untaggedolderthan?: number;
  /** Remove tags pushed longer ago than this (ms), unless kept. */
  tagsolderthan?: number;
}

export interface TaggedManifest {
  tag: string;
  digest: string;
  /** When the tag was last pushed (its link's write time). */
  pushed: Date;
}

export interface RemovedTag extends TaggedManifest {
  reason: string;
}

/** A glob as a regular expression over the whole name. */
export function globPattern(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*' && glob[i + 1] === '*') {
      source += '.*';
      i++;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** A rule compiled once: its glob and keep patterns as regular expressions. */
export class CompiledRule {
  private readonly repositories: RegExp;
  private readonly keep: RegExp[];

  constructor(
    readonly rule: RetentionRule,
    /** The rule's position in the config, for reports. */
    readonly index: number,
  ) {
    this.repositories = globPattern(rule.repositories);
    this.keep = (rule.keeptags ?? []).map((p) => new RegExp(p));
  }

  matches(repository: string): boolean {
    return this.repositories.test(repository);
  }

  /** The tags this rule removes from a repository, with why. */
  tagsToRemove(tags: TaggedManifest[], now: number): RemovedTag[] {
    const newestFirst = [...tags].sort(
      (a, b) => b.pushed.getTime() - a.pushed.getTime() || b.tag.localeCompare(a.tag),
    );
    const { keeplast, tagsolderthan } = this.rule;
    const removed: RemovedTag[] = [];
    for (const [rank, tag] of newestFirst.entries()) {
      if (this.keep.some((k) => k.test(tag.tag))) continue;
      const beyond = keeplast !== undefined && rank >= keeplast;
      const old = tagsolderthan !== undefined && tag.pushed.getTime() < now - tagsolderthan;
      // With both, the newest N stay whatever their age and younger tags stay whatever their rank.
      const remove = keeplast !== undefined && tagsolderthan !== undefined ? beyond && old : beyond || old;
      if (!remove) continue;
      const reasons = [
        ...(beyond ? [`not among the ${keeplast} most recently pushed`] : []),
        ...(old ? [`pushed more than ${formatMs(tagsolderthan as number)} ago`] : []),
      ];
      removed.push({ ...tag, reason: reasons.join(' and ') });
    }
    return removed;
  }
}

/** The first rule governing each repository. */
export function compileRules(rules: RetentionRule[]): (repository: string) => CompiledRule | undefined {
  const compiled = rules.map((r, i) => new CompiledRule(r, i));
  return (repository) => compiled.find((r) => r.matches(repository));
}

export function formatMs(ms: number): string {
  const h = ms / 3_600_000;
  return Number.isInteger(h) ? `${h}h` : `${Math.round(ms / 1000)}s`;
}
