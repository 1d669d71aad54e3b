import type { Machine } from '@regop/ops';
import { ActionError, type CharmContext } from '@regop/ops';
import type { CharmConfig } from '../options.js';
import { readState, reconcile, writeState } from '../reconcile.js';

/** The service an action names: `name`, else registry-name. Only the registry's own service is managed. */
async function serviceName(ctx: CharmContext, config: CharmConfig): Promise<string> {
  const name = String((await ctx.backend.actionGet()).name ?? '') || config['registry-name'];
  if (name !== config['registry-name'])
    throw new ActionError(
      `no service ${name}: this unit runs ${config['registry-name']} (the registry-name option)`,
    );
  return name;
}

export async function stopAction(ctx: CharmContext, machine: Machine, config: CharmConfig): Promise<void> {
  const name = await serviceName(ctx, config);
  const remove = (await ctx.backend.actionGet()).remove !== false;
  if (remove) await machine.services.remove(name);
  else await machine.services.stop(name);
  await writeState(machine, { ...(await readState(machine)), stopped: true });
  await ctx.backend.statusSet('blocked', `${name} service is stopped.`);
  // "removed" is the service definition: the registry's data and configuration stay.
  await ctx.backend.actionSet({
    outcome: 'success',
    raw: `${name} stopped${remove ? ' (its service definition removed; data and configuration kept)' : ''}`,
  });
}

export async function startAction(ctx: CharmContext, machine: Machine, config: CharmConfig): Promise<void> {
  const name = await serviceName(ctx, config);
  await writeState(machine, { ...(await readState(machine)), stopped: false });
  // The reconcile writes the definition again if stop removed it, starts the service and reports status.
  await reconcile(ctx, machine);
  if (!(await machine.services.running(name)))
    throw new ActionError(`${name} did not start: see the unit's status`);
  await ctx.backend.actionSet({ outcome: 'success', raw: `${name} started` });
}
