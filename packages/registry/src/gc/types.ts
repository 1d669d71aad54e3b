/** What a collection is asked to do, what it tells while running, and what it reports. */
import type { LeaseOptions } from './lease.js';
import type { RemovedTag, RetentionRule } from './retention.js';

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

/** What a sweep did (or a dry run would do), as the run reports it. */
export type Swept = Pick<
  CollectResult,
  'manifestsDeleted' | 'blobsDeleted' | 'bytesFreed' | 'blobsRestored' | 'layerLinksRemoved'
>;

export interface RetentionReport {
  repository: string;
  /** The governing rule's position in the configured list. */
  rule: number;
  tagsRemoved: (Omit<RemovedTag, 'pushed'> & { pushed: string })[];
  manifestsRemoved: string[];
  /** Bytes of blobs only this repository's removed manifests used. */
  bytesFreed: number;
}
