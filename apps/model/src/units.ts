/** Units in the local model: each a directory (its machine) and a 127.x.y.z address; subordinates share their principal's. */
import { join } from 'node:path';
import { UsageError } from './args.js';
import { runHook, settle } from './hooks.js';
import { stopProcessesUnder } from './processes.js';
import { departRelation, joinRelation } from './relations.js';
import { charmMeta, loadState, type ModelState, updateState } from './state.js';

/** The n-th unit's address: 127.x.y.z, z from 2 (at most 250 units a model). */
function nextAddress(state: ModelState): string {
  const n = state.nextAddress++;
  if (n > 250) throw new UsageError('a local model holds at most 250 units');
  return `127.${state.addressBase[0]}.${state.addressBase[1]}.${n + 1}`;
}

/**
 * Adds units to an application and runs install, leader-elected (for the first), config-changed and start on
 * each, then joins them to the application's relations. A subordinate application takes one unit per
 * principal in `principals`, on that unit's machine.
 */
export async function addUnits(
  modelDir: string,
  app: string,
  count: number,
  principals: string[] = [],
): Promise<string[]> {
  const added = await updateState(modelDir, (state) => {
    const application = state.applications[app];
    if (!application) throw new UsageError(`application "${app}" not found`);
    if (application.subordinate && principals.length === 0)
      throw new UsageError(`"${app}" is a subordinate: relate it to a principal application instead`);
    const names: string[] = [];
    for (const principal of application.subordinate ? principals : Array.from({ length: count }, () => '')) {
      const n = application.nextUnit++;
      const name = `${app}/${n}`;
      const host = principal ? state.units[principal] : undefined;
      state.units[name] = {
        app,
        address: host?.address ?? nextAddress(state),
        dir: host?.dir ?? join(modelDir, 'units', `${app}-${n}`),
        ...(principal && { principal }),
        status: { current: 'waiting', message: 'agent initialising' },
        ports: [],
      };
      application.units.push(name);
      names.push(name);
    }
    application.leader ??= names[0];
    return names;
  });
  // Each new unit comes up at once, as on machines of their own.
  const leader = (await loadState(modelDir)).applications[app]?.leader;
  await Promise.all(
    added.map(async (unit) => {
      await runHook(modelDir, unit, { path: 'hooks/install' });
      if (leader === unit) await runHook(modelDir, unit, { path: 'hooks/leader-elected' });
      await runHook(modelDir, unit, { path: 'hooks/config-changed' });
      await runHook(modelDir, unit, { path: 'hooks/start' });
    }),
  );
  const state = await loadState(modelDir);
  for (const r of state.relations.filter((x) => x.endpoints.some((e) => e.app === app))) {
    const other = r.endpoints.find((e) => e.app !== app)?.app;
    const sub = other && state.applications[other]?.subordinate;
    if (r.scope === 'container' && sub && other) await addUnits(modelDir, other, 0, added);
    else if (r.scope !== 'container' || !sub)
      await joinRelation(
        modelDir,
        r.id,
        added.filter((u) => r.scope !== 'container' || state.units[u]?.principal),
      );
  }
  await settle(modelDir);
  return added;
}

/** The subordinate units living on `principal`'s machine. */
export const subordinatesOf = (state: ModelState, principal: string) =>
  Object.entries(state.units)
    .filter(([, u]) => u.principal === principal)
    .map(([name]) => name);

/**
 * Removes a unit as Juju does: its subordinates first, then relation-departed and relation-broken for each of
 * its relations, stop and remove, its processes stopped by PID, and leadership passed on (leader-elected on
 * the new leader) when it led.
 */
export async function removeUnit(modelDir: string, unit: string): Promise<void> {
  const state = await loadState(modelDir);
  const u = state.units[unit];
  if (!u) throw new UsageError(`unit "${unit}" not found`);
  for (const sub of subordinatesOf(state, unit)) await removeUnit(modelDir, sub);
  for (const r of state.relations.filter((x) => x.endpoints.some((e) => e.app === u.app)))
    await departRelation(modelDir, r.id, [unit], [unit]);
  await runHook(modelDir, unit, { path: 'hooks/stop' });
  await runHook(modelDir, unit, { path: 'hooks/remove' });
  const application = state.applications[u.app];
  // A principal's machine goes with it; a subordinate only takes its charm's own processes.
  const charm = application ? (await charmMeta(application.charm)).name : u.app;
  await stopProcessesUnder(u.principal ? join(u.dir, 'run', charm) : join(u.dir, 'run'));
  const leader = await updateState(modelDir, (s) => {
    const app = s.applications[u.app];
    delete s.units[unit];
    for (const r of s.relations) {
      delete r.data[unit];
      r.departed = r.departed?.filter((x) => x !== unit);
    }
    s.pending = s.pending.filter(([to, , from]) => to !== unit && from !== unit);
    if (!app) return undefined;
    app.units = app.units.filter((x) => x !== unit);
    if (app.leader !== unit) return undefined;
    app.leader = app.units[0];
    return app.leader;
  });
  if (leader) await runHook(modelDir, leader, { path: 'hooks/leader-elected' });
  await settle(modelDir);
}
