// Shared by the agent's tests (not built: tsconfig leaves it out).
import { createServer } from 'node:net';
import { join } from 'node:path';
import { configDefaults } from '@regop/ops';
import { type CharmConfig, charmConfigSchema } from './options.js';

export const CHARM_DIR = join(import.meta.dirname, '../../../charm');

/** A free TCP port on 127.0.0.1. */
export const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

/** The config Juju sends a unit nobody configured: config.yaml's defaults. */
export const CHARM_DEFAULTS = await configDefaults(CHARM_DIR);

/** A config as the agent reads it: config.yaml's defaults with `over` set, as `juju config` would. */
export const charmConfig = (over: Record<string, unknown> = {}): CharmConfig =>
  charmConfigSchema.parse({ ...CHARM_DEFAULTS, ...over });
