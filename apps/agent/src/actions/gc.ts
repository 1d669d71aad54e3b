import type { Machine } from '@regop/ops';
import { ActionError, type CharmContext } from '@regop/ops';
import { type CollectResult, collectGarbage, parseDuration } from '@regop/registry';
import { retentionRulesSchema } from '@regop/registry/config-schema';
import type { CharmConfig } from '../options.js';
import { openRegistry } from '../store.js';

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** What a collection removed (or would), per repository and in all, as the action prints it. */
export function gcReport(result: CollectResult): string {
  const would = result.dryRun ? 'would be ' : '';
  const lines: string[] = [];
  for (const r of result.retention) {
    lines.push(
      `${r.repository} (retention rule ${r.rule + 1}): ${r.tagsRemoved.length} tags and ${r.manifestsRemoved.length} manifests ${would}removed, ${mib(r.bytesFreed)} freed`,
    );
    for (const t of r.tagsRemoved) lines.push(`  ${r.repository}:${t.tag} pushed ${t.pushed}: ${t.reason}`);
  }
  lines.push(
    `${result.blobsDeleted.length} blobs (${mib(result.bytesFreed)}) and ${result.manifestsDeleted.length} manifests ${result.dryRun ? 'eligible for deletion' : 'deleted'}`,
  );
  if (result.keptForGrace.blobs > 0)
    lines.push(
      `${result.keptForGrace.blobs} unreferenced blobs (${mib(result.keptForGrace.bytes)}) kept: written within the grace period`,
    );
  return lines.join('\n');
}

/**
 * Collects garbage now with the charm's retention rules, as a scheduled run would; a dry run (the default)
 * changes nothing. Another unit's collection on shared storage is waited for, through the storage lease.
 */
export async function gcAction(ctx: CharmContext, machine: Machine, config: CharmConfig): Promise<void> {
  const params = await ctx.backend.actionGet();
  const dryRun = params['dry-run'] !== false;
  const grace = String(params.grace ?? '1h');
  const graceMs = parseDuration(grace);
  if (graceMs === undefined) throw new ActionError(`grace: not a duration (like 1h, 30m, 0s): ${grace}`);
  if (!dryRun && config['storage-read-only'])
    throw new ActionError('the registry is read-only (storage-read-only): nothing can be removed');
  const registry = await openRegistry(machine);
  const result = await collectGarbage(registry.driver, {
    dryRun,
    graceMs,
    // The option was checked against this schema; kept as written, its durations are read here.
    retention: retentionRulesSchema.parse(config['retention-rules']),
    lease: { owner: ctx.unitName, waitMs: 10 * 60_000 },
  });
  const report = gcReport(result);
  await ctx.backend.actionLog(report);
  await ctx.backend.actionSet({
    report,
    'dry-run': String(result.dryRun),
    'bytes-freed': String(result.bytesFreed),
    'blobs-deleted': String(result.blobsDeleted.length),
    'manifests-deleted': String(result.manifestsDeleted.length),
    'tags-removed': String(result.retention.reduce((n, r) => n + r.tagsRemoved.length, 0)),
  });
}
