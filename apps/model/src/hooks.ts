import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { loadState, updateState } from './state.js';
import { shim, toolServer } from './tool-server.js';
import { TOOLS } from './tools.js';

const HOOK_TOOL = fileURLToPath(new URL('./hook-tool.js', import.meta.url));

/** Writes one shim per hook tool into the model's bin/, which hooks get first on their PATH. */
export async function installTools(modelDir: string): Promise<void> {
  const bin = join(modelDir, 'bin');
  await mkdir(bin, { recursive: true });
  // Units' machines are open to every user, as a machine's root is: daemons that drop privileges (nrpe runs
  // its checks as nagios) must reach their files.
  await chmod(modelDir, 0o755);
  for (const tool of TOOLS) {
    await writeFile(join(bin, tool), shim(tool, process.execPath, HOOK_TOOL));
    await chmod(join(bin, tool), 0o755);
  }
}

export interface HookRun {
  /** hooks/<name> or actions/<name>. */
  path: string;
  env?: Record<string, string>;
}

/**
 * Runs the unit's charm for one hook or action, as Juju does: `dispatch` in the charm directory with
 * JUJU_DISPATCH_PATH and the JUJU_* variables, the hook tools on PATH. The unit's directory is its machine
 * (REGOP_ROOT) and services are supervised processes (REGOP_SERVICES=process). Resolves whether it succeeded.
 */
export async function runHook(modelDir: string, unitName: string, run: HookRun): Promise<boolean> {
  const state = await loadState(modelDir);
  const unit = state.units[unitName];
  const app = unit && state.applications[unit.app];
  if (!unit || !app) throw new Error(`no unit ${unitName}`);
  await mkdir(unit.dir, { recursive: true });
  // Progress for a person watching; stdout stays the command's output alone.
  if (process.stderr.isTTY) process.stderr.write(`${unitName}: ${run.path}\n`);
  const tools = await toolServer();
  const started = Date.now();
  const result = await execa(join(app.charm, 'dispatch'), [], {
    cwd: app.charm,
    reject: false,
    all: true,
    env: {
      ...run.env,
      PATH: `${join(modelDir, 'bin')}:${process.env.PATH ?? ''}`,
      JUJU_DISPATCH_PATH: run.path,
      JUJU_UNIT_NAME: unitName,
      JUJU_CHARM_DIR: app.charm,
      JUJU_MODEL_NAME: 'local',
      JUJU_VERSION: '3.6.0',
      REGOP_MODEL_DIR: modelDir,
      REGOP_ROOT: unit.dir,
      REGOP_SERVICES: 'process',
      REGOP_TOOLS_PORT: String(tools.port),
      REGOP_TOOLS_TOKEN: tools.token,
    },
  });
  const took = `${Date.now() - started} ms`;
  await writeFile(
    join(unit.dir, 'hooks.log'),
    `--- ${unitName} ${run.path} (${took})\n${result.all ?? ''}\n`,
    {
      flag: 'a',
    },
  );
  if (result.exitCode === 0) return true;
  const output = (result.all ?? '').trim().split('\n');
  await updateState(modelDir, (after) => {
    const action = run.env?.JUJU_ACTION_UUID ? after.actions[run.env.JUJU_ACTION_UUID] : undefined;
    if (action?.status === 'running') {
      // The charm crashed before it could say why.
      action.status = 'failed';
      action.message = `action exited with code ${result.exitCode}: ${output.at(-1) ?? ''}`;
    }
    const failed = after.units[unitName];
    if (run.path.startsWith('hooks/') && failed)
      failed.status = { current: 'error', message: `hook failed: "${run.path.slice(6)}"` };
  });
  if (run.path.startsWith('hooks/'))
    process.stderr.write(`${unitName}: hook ${run.path.slice(6)} failed:\n${output.slice(-5).join('\n')}\n`);
  return false;
}

/** The JUJU_* variables of a relation hook; `remote` is a unit, or an application for application data. */
export const relationEnv = (endpoint: string, id: number, remote?: string): Record<string, string> => ({
  JUJU_RELATION: endpoint,
  JUJU_RELATION_ID: `${endpoint}:${id}`,
  ...(remote?.includes('/') && { JUJU_REMOTE_UNIT: remote }),
  ...(remote && { JUJU_REMOTE_APP: remote.split('/')[0] as string }),
});

/**
 * Runs relation-changed for every unit owed one because its remote side wrote settings, until none are owed.
 * Units run their hooks at once, each unit one hook at a time, as Juju's unit agents do.
 */
export async function settle(modelDir: string): Promise<void> {
  for (let round = 0; round < 500; round++) {
    const batch = await updateState(modelDir, (s) => {
      const seen = new Set<string>();
      const picked = s.pending.filter(([unit]) => !seen.has(unit) && seen.add(unit));
      s.pending = s.pending.filter((entry) => !picked.includes(entry));
      return picked;
    });
    if (batch.length === 0) return;
    const state = await loadState(modelDir);
    await Promise.all(
      batch.map(async ([unit, id, remote]) => {
        const relation = state.relations.find((r) => r.id === id);
        const own = relation?.endpoints.find((e) => e.app === state.units[unit]?.app);
        if (!relation || !own || !state.units[unit]) return;
        await runHook(modelDir, unit, {
          path: `hooks/${own.endpoint}-relation-changed`,
          env: relationEnv(own.endpoint, id, remote),
        });
      }),
    );
  }
}
