import { createDriver } from '@regop/drivers';
import type { Machine } from '@regop/ops';
import { loadConfig, Registry } from '@regop/registry';
import { PATHS } from './render.js';

/** The unit's registry content, opened on the storage its config.yml names (the engine's own API). */
export async function openRegistry(machine: Machine): Promise<Registry> {
  const config = await loadConfig(machine.path(PATHS.config), {});
  const readOnly = config.storage.maintenance?.readonly?.enabled === true;
  return new Registry(await createDriver(config.storage, { readOnly }));
}
