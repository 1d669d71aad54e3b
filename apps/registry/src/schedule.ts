/**
 * The maintenance a config asks `registry serve` for: the upload purge and the scheduled garbage collection
 * (the pull-through cache's expiry among them). None runs on a read-only store.
 */
import type { CollectOptions, RegistryConfig } from '@regop/registry';

const HOUR = 3_600_000;

export interface PurgePlan {
  ageMs: number;
  intervalMs: number;
  dryRun: boolean;
}

export interface GcSchedule {
  intervalMs: number;
  collect: CollectOptions;
}

const readOnly = (config: RegistryConfig) => config.storage.maintenance?.readonly?.enabled === true;

/** storage.maintenance.uploadpurging, on unless disabled, with distribution's defaults (168h, every 24h). */
export function purgeOptions(config: RegistryConfig): PurgePlan | undefined {
  const purging = config.storage.maintenance?.uploadpurging;
  if (readOnly(config) || purging?.enabled === false) return undefined;
  return {
    ageMs: purging?.age ?? 168 * HOUR,
    intervalMs: purging?.interval ?? 24 * HOUR,
    dryRun: purging?.dryrun === true,
  };
}

/**
 * storage.maintenance.garbagecollect when enabled. Without it, a pull-through cache expires what it cached
 * proxy.ttl ago (168h by default, as distribution's) through the collector's retention rules, so a blob another
 * cached image still uses is never deleted: every quarter of the TTL (at most daily), with a grace of at most an
 * hour.
 */
export function gcSchedule(config: RegistryConfig): GcSchedule | undefined {
  if (readOnly(config)) return undefined;
  const gc = config.storage.maintenance?.garbagecollect;
  if (gc?.enabled) {
    return {
      intervalMs: gc.interval ?? 24 * HOUR,
      collect: {
        dryRun: gc.dryrun === true,
        deleteUntagged: gc.deleteuntagged === true,
        graceMs: gc.grace ?? HOUR,
        ...(gc.retention && { retention: gc.retention }),
      },
    };
  }
  if (!config.proxy) return undefined;
  const ttl = config.proxy.ttl ?? 168 * HOUR;
  return {
    intervalMs: Math.min(24 * HOUR, Math.max(1000, ttl / 4)),
    collect: {
      graceMs: Math.min(HOUR, ttl),
      retention: [{ repositories: '**', tagsolderthan: ttl, untaggedolderthan: ttl }],
    },
  };
}
