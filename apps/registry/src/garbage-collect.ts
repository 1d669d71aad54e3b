import { createDriver } from '@regop/drivers';
import {
  type CollectResult,
  ConfigError,
  collectGarbage,
  type GcEvent,
  loadConfig,
  parseDuration,
} from '@regop/registry';
import { parseCommandLine, UsageError } from './cli.js';
import { GC_USAGE } from './usage.js';

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

export async function garbageCollect(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine({
    args,
    options: {
      'dry-run': { type: 'boolean', short: 'd' },
      'delete-untagged': { type: 'boolean', short: 'm' },
      grace: { type: 'string', short: 'g', default: '1h' },
      wait: { type: 'string', short: 'w', default: '0s' },
      quiet: { type: 'boolean', short: 'q' },
      format: { type: 'string', default: 'text' },
    },
    usage: GC_USAGE,
  });
  const configPath = positionals[0] ?? process.env.REGISTRY_CONFIGURATION_PATH;
  if (!configPath) throw new UsageError('garbage-collect needs a CONFIG', GC_USAGE);
  const graceMs = parseDuration(values.grace as string);
  if (graceMs === undefined)
    throw new ConfigError(`--grace: not a duration (like 30m, 1h, 0s): ${values.grace}`);
  const waitMs = parseDuration(values.wait as string);
  if (waitMs === undefined) throw new ConfigError(`--wait: not a duration (like 10m, 0s): ${values.wait}`);
  const format = values.format as string;
  if (format !== 'text' && format !== 'json')
    throw new UsageError(`--format: text or json, not ${format}`, GC_USAGE);
  const config = await loadConfig(configPath);
  const retention = config.storage.maintenance?.garbagecollect?.retention;
  const dryRun = values['dry-run'] === true;
  // A dry run only reads: it may look at a store that takes no writes.
  const driver = await createDriver(config.storage, { readOnly: dryRun });
  // JSON is the whole output, for jq: no event lines.
  const quiet = values.quiet === true || format === 'json';
  const out = (line: string) => process.stdout.write(`${line}\n`);
  let lastProgress = Date.now();

  const onEvent = (event: GcEvent) => {
    switch (event.kind) {
      case 'progress':
        if (Date.now() - lastProgress > 2000) {
          lastProgress = Date.now();
          process.stderr.write(`${event.phase}: ${event.done}/${event.total}\n`);
        }
        return;
      case 'mark-manifest':
        if (!quiet) out(`${event.repository}: marking manifest ${event.digest}`);
        return;
      case 'mark-blob':
        if (!quiet) out(`${event.repository}: marking blob ${event.digest}`);
        return;
      case 'remove-tag':
        if (!quiet)
          out(
            `${dryRun ? 'tag eligible for removal' : 'removed tag'}: ${event.repository}:${event.tag} (${event.digest}): ${event.reason}`,
          );
        return;
      case 'delete-manifest':
        if (!quiet)
          out(
            `${dryRun ? 'manifest eligible for deletion' : 'deleted manifest'}: ${event.repository}@${event.digest}`,
          );
        return;
      case 'delete-blob':
        if (!quiet) out(`${dryRun ? 'blob eligible for deletion' : 'deleted blob'}: ${event.digest}`);
        return;
      case 'warning':
        process.stderr.write(`warning: ${event.message}\n`);
        return;
      case 'restore-blob':
        if (!quiet) out(`kept blob a concurrent push needs: ${event.digest}`);
        return;
      case 'restore-manifest':
        if (!quiet) out(`put back manifest a concurrent push reaches: ${event.repository}@${event.digest}`);
        return;
    }
  };
  const result: CollectResult = await collectGarbage(driver, {
    dryRun,
    deleteUntagged: values['delete-untagged'] === true,
    graceMs,
    ...(retention && { retention }),
    lease: {
      waitMs,
      onWait: (holder) =>
        process.stderr.write(
          `waiting for the collection of ${holder.owner} (its lease runs until ${holder.expires})\n`,
        ),
    },
    onEvent,
  });
  if (format === 'json') {
    out(JSON.stringify(result, null, 2));
    return 0;
  }
  for (const r of result.retention) {
    out(
      `\n${r.repository} (retention rule ${r.rule + 1}): ${r.tagsRemoved.length} tags and ${r.manifestsRemoved.length} manifests ` +
        `${dryRun ? 'would be removed' : 'removed'}, ${mib(r.bytesFreed)} freed${dryRun ? ' by that' : ''}`,
    );
    for (const t of r.tagsRemoved) out(`  ${r.repository}:${t.tag} pushed ${t.pushed}: ${t.reason}`);
  }
  out(
    `\n${result.repositories} repositories, ${result.manifestsMarked} manifests and ${result.blobsMarked} blobs marked; ` +
      `${result.blobsDeleted.length} blobs (${mib(result.bytesFreed)}) and ${result.manifestsDeleted.length} manifests ` +
      `${dryRun ? 'eligible for deletion' : `deleted, ${result.layerLinksRemoved} repository links removed`}`,
  );
  const young = result.keptForGrace;
  if (young.blobs > 0)
    out(
      `${young.blobs} unreferenced blobs (${mib(young.bytes)}) kept: written or linked within the grace period ` +
        `(--grace ${values.grace}); run again later, or with a shorter --grace (--grace 0s while nothing is pushing)`,
    );
  return 0;
}
