import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where a program the charm runs lives: in a packed charm, beside the agent (`lib/<name>/`, see pack.mjs); in a
 * checkout, the app's build output (`apps/<name>/dist/`).
 */
export function programDir(name: 'registry' | 'check-registry'): string {
  // This code runs from lib/agent/ or lib/agent/chunks/ when packed, from apps/agent/dist/ or
  // apps/agent/dist/chunks/ in a checkout (the build bundles it as the pack does).
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [
    join(here, '..', name),
    join(here, '../..', name),
    join(here, '../..', name, 'dist'),
    join(here, '../../..', name, 'dist'),
  ];
  const found = candidates.find((dir) => existsSync(join(dir, 'main.js')));
  if (!found) throw new Error(`${name} is not built (looked in ${candidates.join(', ')})`);
  return `${found}/`;
}

/** The registry's entry point. */
export const registryMain = () => `${programDir('registry')}main.js`;

/** The NRPE plugin's files (its entry point is main.js), to install on the unit. */
export function checkPlugin(): { dir: string; files: string[] } {
  const dir = programDir('check-registry');
  return { dir, files: readdirSync(dir).filter((f) => f.endsWith('.js')) };
}
