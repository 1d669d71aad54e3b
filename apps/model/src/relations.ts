/** Relations in the local model: endpoints matched by interface, and the hooks Juju runs as units enter and leave them. */
import { UsageError } from './args.js';
import { relationEnv, runHook } from './hooks.js';
import { charmMeta, endpointOf, loadState, type ModelState, relatedUnits, updateState } from './state.js';

export interface Endpoint {
  app: string;
  endpoint: string;
}

/** `APP[:ENDPOINT]` pairs resolved to endpoints whose interfaces match, one provider and one requirer. */
export async function resolveEndpoints(
  state: ModelState,
  a: string,
  b: string,
): Promise<{ endpoints: [Endpoint, Endpoint]; scope: 'global' | 'container' }> {
  const side = async (arg: string) => {
    const [app, endpoint] = arg.split(':') as [string, string | undefined];
    const application = state.applications[app];
    if (!application) throw new UsageError(`application "${app}" not found`);
    const meta = await charmMeta(application.charm);
    const all = (['provides', 'requires'] as const).flatMap((role) =>
      Object.entries(meta[role] ?? {}).map(([name, e]) => ({
        app,
        endpoint: name,
        interface: e.interface,
        scope: e.scope,
        role,
      })),
    );
    const found = endpoint ? all.filter((e) => e.endpoint === endpoint) : all;
    if (endpoint && found.length === 0)
      throw new UsageError(`application "${app}" has no endpoint "${endpoint}"`);
    return found;
  };
  const [left, right] = [await side(a), await side(b)];
  const matches = left.flatMap((l) =>
    right.filter((r) => r.interface === l.interface && r.role !== l.role).map((r) => [l, r] as const),
  );
  const [match] = matches;
  if (!match || matches.length > 1)
    throw new UsageError(
      matches.length
        ? `ambiguous relation ${a} ${b}: name the endpoints (${matches.map(([l, r]) => `${l.app}:${l.endpoint} ${r.app}:${r.endpoint}`).join(' or ')})`
        : `no matching endpoints between ${a} and ${b}`,
    );
  const [l, r] = match;
  return {
    endpoints: [
      { app: l.app, endpoint: l.endpoint },
      { app: r.app, endpoint: r.endpoint },
    ],
    scope: l.scope === 'container' || r.scope === 'container' ? 'container' : 'global',
  };
}

/** The settings Juju gives every unit in a relation before its charm writes any. */
const unitDefaults = (state: ModelState, unit: string) => {
  const address = state.units[unit]?.address ?? '';
  return { 'private-address': address, 'ingress-address': address, 'egress-subnets': `${address}/32` };
};

/** relation-created on `units`, then joined and changed both ways between them and their remote units. */
export async function joinRelation(modelDir: string, id: number, units: string[]): Promise<void> {
  const state = await updateState(modelDir, (s) => {
    const relation = s.relations.find((r) => r.id === id);
    if (!relation) return s;
    relation.departed = relation.departed?.filter((u) => !units.includes(u));
    for (const unit of units) relation.data[unit] = { ...unitDefaults(s, unit), ...relation.data[unit] };
    return s;
  });
  const relation = state.relations.find((r) => r.id === id);
  if (!relation) return;
  // Each unit, at once as Juju's agents are: relation-created, then joined and changed for each remote unit.
  // A remote unit not among `units` (already in the relation) runs joined and changed for each newcomer.
  const sequences = new Map<string, string[]>();
  for (const unit of units)
    for (const remote of relatedUnits(state, relation, unit)) {
      sequences.set(unit, [...(sequences.get(unit) ?? []), remote]);
      if (!units.includes(remote)) sequences.set(remote, [...(sequences.get(remote) ?? []), unit]);
    }
  await Promise.all(
    [...new Set([...units, ...sequences.keys()])].map(async (unit) => {
      const ep = endpointOf(state, relation, unit);
      if (units.includes(unit))
        await runHook(modelDir, unit, { path: `hooks/${ep}-relation-created`, env: relationEnv(ep, id) });
      for (const remote of sequences.get(unit) ?? []) {
        await runHook(modelDir, unit, {
          path: `hooks/${ep}-relation-joined`,
          env: relationEnv(ep, id, remote),
        });
        await runHook(modelDir, unit, {
          path: `hooks/${ep}-relation-changed`,
          env: relationEnv(ep, id, remote),
        });
      }
    }),
  );
}

/**
 * `leaving` units leave the relation's scope: each remaining remote unit runs relation-departed for them (no
 * longer listing them), they run it for each remote, then relation-broken runs on `broken` (the leaving units,
 * or every unit when the relation itself is removed). Their settings go with them.
 */
export async function departRelation(modelDir: string, id: number, leaving: string[], broken: string[]) {
  const before = await loadState(modelDir);
  const relation = before.relations.find((r) => r.id === id);
  if (!relation) return;
  const remotesOf = new Map(leaving.map((u) => [u, relatedUnits(before, relation, u)]));
  await updateState(modelDir, (s) => {
    const r = s.relations.find((x) => x.id === id);
    if (r) r.departed = [...new Set([...(r.departed ?? []), ...leaving])];
  });
  // Each unit at once: relation-departed for every unit leaving its view.
  const departures = new Map<string, string[]>();
  const add = (a: string, b: string) => {
    if (!departures.get(a)?.includes(b)) departures.set(a, [...(departures.get(a) ?? []), b]);
  };
  for (const unit of leaving)
    for (const remote of remotesOf.get(unit) ?? []) {
      add(remote, unit);
      add(unit, remote);
    }
  await Promise.all(
    [...departures].map(async ([unit, gone]) => {
      const ep = endpointOf(before, relation, unit);
      for (const remote of gone)
        await runHook(modelDir, unit, {
          path: `hooks/${ep}-relation-departed`,
          env: relationEnv(ep, id, remote),
        });
    }),
  );
  await updateState(modelDir, (s) => {
    const r = s.relations.find((x) => x.id === id);
    if (r) r.departed = [...new Set([...(r.departed ?? []), ...broken])];
  });
  await Promise.all(
    broken.map((unit) => {
      const ep = endpointOf(before, relation, unit);
      return runHook(modelDir, unit, { path: `hooks/${ep}-relation-broken`, env: relationEnv(ep, id) });
    }),
  );
  await updateState(modelDir, (s) => {
    const r = s.relations.find((x) => x.id === id);
    if (r) for (const unit of leaving) delete r.data[unit];
    s.pending = s.pending.filter(
      ([u, rid, w]) => rid !== id || !(leaving.includes(u) || leaving.includes(w)),
    );
  });
}
