/**
 * Mark and sweep garbage collection over distribution's storage layout, safe to run while registries serve
 * pushes from the same storage. As distribution's MarkAndSweep, deciding is apart from doing: the mark
 * (mark.ts) reads the store and takes the decisions (plan.ts) into a plan; a dry run reports the plan; a real
 * run hands it to the sweep (sweep.ts, which says why a push in flight is safe), under the storage lease.
 */
import { BaseDriver, type StorageDriver } from '@regop/storage';
import { StorageLease } from './lease.js';
import { mark } from './mark.js';
import { type Plan, planned, policyOf } from './plan.js';
import { ManifestReader } from './references.js';
import { recoverQuarantines, sweep } from './sweep.js';
import type { CollectOptions, CollectResult, GcEvent } from './types.js';

export type { CollectOptions, CollectResult, GcEvent, RetentionReport } from './types.js';

/** Runs one collection. */
export async function collectGarbage(
  driver: StorageDriver,
  options: CollectOptions = {},
): Promise<CollectResult> {
  const store = BaseDriver.wrap(driver);
  const emit = (event: GcEvent) => options.onEvent?.(event);
  const manifests = new ManifestReader(store);
  const references = (digest: string) => manifests.known(digest);
  const markNow = () => mark(store, manifests, policyOf(options, Date.now()), emit);

  if (options.dryRun) {
    const plan = await markNow();
    const result = planned(plan, references);
    reportPlan(plan, result, emit);
    return result;
  }
  const lease = await StorageLease.acquire(store, options.lease);
  const heldFrom = new Date().toISOString();
  try {
    await recoverQuarantines(store, lease);
    const plan = await markNow();
    const swept = await sweep(plan, { driver: store, lease, manifests, emit });
    return {
      ...planned(plan, references, swept),
      lease: { owner: lease.owner, heldFrom, heldUntil: new Date().toISOString() },
    };
  } finally {
    await lease.release();
  }
}

/** A dry run tells what a real run would do, in the events a real run sends. */
function reportPlan(plan: Plan, result: CollectResult, emit: (event: GcEvent) => void): void {
  for (const { repository, removed } of plan.removedTags) {
    const { tag, digest, reason } = removed;
    emit({ kind: 'remove-tag', repository, tag, digest, reason });
  }
  for (const m of result.manifestsDeleted) emit({ kind: 'delete-manifest', ...m });
  for (const b of result.blobsDeleted) emit({ kind: 'delete-blob', ...b });
}
