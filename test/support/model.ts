import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { parse } from 'yaml';
import { REPO_ROOT } from './registries.js';

export const MODEL_CLI = join(REPO_ROOT, 'apps/model/dist/cli.js');
export const CHARM = join(REPO_ROOT, 'charm');

export interface UnitStatus {
  'workload-status': { current: string; message: string };
  'public-address': string;
}

/** A local model in a temporary MODEL_DIR (under `parent`), driven through `model` exactly as a user types it. */
export async function newModel(parent = tmpdir()) {
  const dir = await mkdtemp(join(parent, 'regop-model-'));
  const model = (...args: string[]) =>
    execa(process.execPath, [MODEL_CLI, ...args], {
      env: { MODEL_DIR: dir },
      reject: false,
      timeout: 300_000,
    });
  return {
    dir,
    model,
    /** Runs an action; its YAML record (status, message, results, log). */
    async run(unit: string, action: string, ...params: string[]) {
      const result = await model('run', unit, action, ...params);
      const record = (
        parse(result.stdout) as Record<
          string,
          { status: string; message?: string; results: Record<string, string>; log?: string[] }
        > | null
      )?.[unit];
      if (!record) throw new Error(`model run printed no record: ${result.stdout} ${result.stderr}`);
      return { ...record, exitCode: result.exitCode };
    },
    /** A unit's status, a subordinate's too (juju's status shows those under their principal). */
    async unit(name: string): Promise<UnitStatus> {
      const result = await model('status', '--format', 'json');
      type Units = Record<string, UnitStatus & { subordinates?: Record<string, UnitStatus> }>;
      const status = JSON.parse(result.stdout) as { applications: Record<string, { units: Units }> };
      const unit =
        status.applications[name.split('/')[0] as string]?.units[name] ??
        Object.values(status.applications)
          .flatMap((a) => Object.values(a.units ?? {}))
          .map((u) => u.subordinates?.[name])
          .find(Boolean);
      if (!unit) throw new Error(`no unit ${name} in ${result.stdout}`);
      return unit;
    },
    destroy: () => model('destroy'),
  };
}

export interface RelationInfo {
  endpoint: string;
  'related-endpoint': string;
  'application-data': Record<string, string>;
  'local-unit': { data: Record<string, string> };
  'related-units': Record<string, { data: Record<string, string> }>;
}

/** `model show-unit UNIT --format json`: the unit's relations and their data, as `juju show-unit` shows them. */
export async function showUnit(
  model: Awaited<ReturnType<typeof newModel>>,
  unit: string,
): Promise<{ leader: boolean; 'relation-info': RelationInfo[] }> {
  const result = await model.model('show-unit', unit, '--format', 'json');
  if (result.exitCode !== 0) throw new Error(`show-unit ${unit}: ${result.stderr}`);
  return (JSON.parse(result.stdout) as Record<string, { leader: boolean; 'relation-info': RelationInfo[] }>)[
    unit
  ] as { leader: boolean; 'relation-info': RelationInfo[] };
}
