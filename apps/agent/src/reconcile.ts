/**
 * The one reconcile every hook runs, state then action: gather reads every input (config, leadership, every
 * relation) into the unit's state, apply acts on it, and each part adds what it has to say of the status; the
 * most severe wins. Invalid config blocks the unit naming the options and changes nothing; bad data from a
 * relation blocks it naming the relation, and the registry keeps serving its last good configuration.
 */
import type { CharmContext, Machine } from '@regop/ops';
import { type Applied, apply } from './apply.js';
import { relationEntries } from './relations/index.js';
import { UI_PATH } from './render.js';
import { configurable, gather, type UnitState } from './state.js';
import { mostSevere, type Status } from './status.js';

export { loadConfig, readState, writeState } from './state.js';

export async function reconcile(ctx: CharmContext, machine: Machine): Promise<void> {
  const { backend } = ctx;
  const unit = await gather(ctx, machine);
  if (!configurable(unit)) {
    for (const line of unit.log) await backend.log(line, 'WARNING');
    await backend.statusSet('blocked', unit.blocked);
    return;
  }
  if (unit.facts.config['registry-image'] !== 'registry:2')
    await backend.log(
      'registry-image has no effect: this charm runs the registry as a service, not a container',
      'WARNING',
    );
  const applied = await apply(unit, ctx, machine);
  const status = mostSevere(statuses(unit, applied)) as Status;
  await backend.statusSet(status.name, status.message);
}

/** What the service, then each relation, then the unit as a whole say of the status. */
export function statuses(unit: UnitState, { served, failure }: Applied): Status[] {
  const name = unit.facts.config['registry-name'];
  const relations = relationEntries();
  const said: (Status | undefined)[] = [
    unit.agent.stopped ? { name: 'blocked', message: `${name} service is stopped.` } : undefined,
    failure ? { name: 'blocked', message: `${name} service failed to start: ${failure}` } : undefined,
    ...relations.map(([relation, module]) => module.status?.(unit.relations[relation], unit, served)),
  ];
  // `Ready at IP:PORT (https, proxied).`, as Canonical's charm reports it, and whether it takes pushes.
  const suffix = [
    served.tlsOn ? 'https' : 'http',
    ...(unit.relations.website.proxies.length ? ['proxied'] : []),
    ...(unit.facts.config['storage-read-only'] ? ['read-only'] : []),
  ];
  const notes = relations.map(([relation, module]) => module.note?.(unit.relations[relation], served));
  const ready = [
    `Ready at ${unit.facts.address}:${served.port} (${suffix.join(', ')}).`,
    // Where people browse it: behind a proxy, the proxy's address (http-host's when set).
    unit.facts.config['ui-enabled'] ? `UI at ${served.url}${UI_PATH}.` : undefined,
    ...notes,
  ];
  said.push({ name: 'active', message: ready.filter(Boolean).join(' ') });
  return said.filter((s): s is Status => s !== undefined);
}
