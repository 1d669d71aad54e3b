import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from './args.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Charms known by name, as `juju deploy docker-registry` finds them in the store: this project's charm and
 * the peer charms the model ships (apps/model/charms/).
 */
const BY_NAME: Record<string, string> = {
  'docker-registry': join(REPO, 'charm'),
  haproxy: join(REPO, 'apps/model/charms/haproxy'),
  easyrsa: join(REPO, 'apps/model/charms/easyrsa'),
  nrpe: join(REPO, 'apps/model/charms/nrpe'),
  'registry-client': join(REPO, 'apps/model/charms/registry-client'),
};

export const CHARM_NAMES = Object.keys(BY_NAME);

/** A charm argument: a known name, or a path to a charm directory (with metadata.yaml). */
export async function resolveCharm(arg: string): Promise<string> {
  const looksLikePath = arg.includes('/') || arg.startsWith('.');
  if (!looksLikePath && BY_NAME[arg]) return BY_NAME[arg];
  const dir = resolve(arg);
  if (await stat(join(dir, 'metadata.yaml')).catch(() => undefined)) return dir;
  throw new UsageError(
    `charm "${arg}" not found: give a charm directory or one of ${CHARM_NAMES.join(', ')}`,
  );
}
