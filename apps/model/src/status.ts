/** What `model status` and `model show-unit` print, shaped as `juju status` and `juju show-unit` print it. */
import { stringify } from 'yaml';
import { UsageError } from './args.js';
import { charmMeta, endpointOf, type ModelState, relatedUnits } from './state.js';

/** `juju status --format json`'s shape. */
export async function statusJson(state: ModelState) {
  return {
    model: { name: 'local', type: 'iaas' },
    applications: Object.fromEntries(
      await Promise.all(
        Object.entries(state.applications).map(async ([name, app]) => [
          name,
          {
            charm: (await charmMeta(app.charm)).name,
            'charm-origin': 'local',
            ...(app.subordinate && { 'subordinate-to': subordinateTo(state, name) }),
            units: Object.fromEntries(
              app.units.filter((u) => !state.units[u]?.principal).map((u) => [u, unitStatus(state, u)]),
            ),
            relations: Object.fromEntries(
              state.relations
                .filter((r) => r.endpoints.some((e) => e.app === name))
                .map((r) => {
                  const own = r.endpoints.find((e) => e.app === name);
                  return [own?.endpoint, r.endpoints.filter((e) => e !== own).map((e) => e.app)];
                }),
            ),
          },
        ]),
      ),
    ),
  };
}

const subordinateTo = (state: ModelState, app: string) => [
  ...new Set(
    state.relations
      .filter((r) => r.scope === 'container' && r.endpoints.some((e) => e.app === app))
      .flatMap((r) => r.endpoints.filter((e) => e.app !== app).map((e) => e.app)),
  ),
];

function unitStatus(state: ModelState, name: string): Record<string, unknown> {
  const unit = state.units[name];
  const subs = Object.entries(state.units).filter(([, u]) => u.principal === name);
  return {
    'workload-status': { current: unit?.status.current, message: unit?.status.message },
    'juju-status': { current: 'idle' },
    leader: state.applications[unit?.app ?? '']?.leader === name,
    'public-address': unit?.address,
    'open-ports': unit?.ports,
    ...(subs.length && { subordinates: Object.fromEntries(subs.map(([s]) => [s, unitStatus(state, s)])) }),
  };
}

/** The tabular status: one line per unit, subordinates indented under their principal. */
export function statusTable(state: ModelState): string {
  const lines = ['Unit                          Workload     Address        Ports        Message'];
  const line = (name: string, indent: string) => {
    const unit = state.units[name];
    if (!unit) return;
    const label = `${indent}${name}${state.applications[unit.app]?.leader === name ? '*' : ''}`;
    lines.push(
      `${label.padEnd(30)}${unit.status.current.padEnd(13)}${unit.address.padEnd(15)}${unit.ports.join(',').padEnd(13)}${unit.status.message}`,
    );
  };
  for (const [name, unit] of Object.entries(state.units)) {
    if (unit.principal) continue;
    line(name, '');
    for (const [sub, u] of Object.entries(state.units)) if (u.principal === name) line(sub, '  ');
  }
  return lines.join('\n');
}

/** `juju show-unit UNIT`'s shape: the unit and, per relation, its own, its remote units' and the remote application's data. */
export async function showUnit(state: ModelState, name: string, format: string | undefined): Promise<string> {
  const unit = state.units[name];
  if (!unit) throw new UsageError(`unit "${name}" not found`);
  const app = state.applications[unit.app];
  const relations = state.relations.filter((r) => r.endpoints.some((e) => e.app === unit.app));
  const shown = {
    [name]: {
      'workload-version': '',
      machine: unit.principal ? state.units[unit.principal]?.address : unit.address,
      'opened-ports': unit.ports,
      'public-address': unit.address,
      charm: app ? (await charmMeta(app.charm)).name : '',
      leader: app?.leader === name,
      life: 'alive',
      ...(unit.principal && { principal: unit.principal }),
      'relation-info': relations.map((r) => {
        const remote = r.endpoints.find((e) => e.app !== unit.app) ?? r.endpoints[0];
        return {
          'relation-id': r.id,
          endpoint: endpointOf(state, r, name),
          'related-endpoint': remote?.endpoint,
          'application-data': r.data[remote?.app ?? ''] ?? {},
          'local-unit': { 'in-scope': !r.departed?.includes(name), data: r.data[name] ?? {} },
          'related-units': Object.fromEntries(
            relatedUnits(state, r, name).map((u) => [u, { 'in-scope': true, data: r.data[u] ?? {} }]),
          ),
        };
      }),
    },
  };
  return format === 'json' ? JSON.stringify(shown) : stringify(shown).trim();
}
