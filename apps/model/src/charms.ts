import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unzipSync } from 'fflate';
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

/**
 * A packed charm (`juju deploy ./x.charm`), unzipped into the model's charm store under a name made of its
 * content, so a folder an application runs from is never written again. The zip's unix modes are not read
 * back (fflate does not expose them): a file starting with `#!` (dispatch, hooks) is made executable, as
 * charmcraft packs them.
 */
async function unpack(file: string, modelDir: string): Promise<string> {
  const zip = await readFile(file);
  const dir = join(
    modelDir,
    'charms',
    `${basename(file, '.charm')}-${createHash('sha256').update(zip).digest('hex').slice(0, 12)}`,
  );
  if (await stat(join(dir, 'metadata.yaml')).catch(() => undefined)) return dir;
  let entries: ReturnType<typeof unzipSync>;
  try {
    entries = unzipSync(zip);
  } catch (err) {
    throw new UsageError(`${file} is not a packed charm (a zip): ${(err as Error).message}`);
  }
  await rm(dir, { recursive: true, force: true });
  for (const [name, bytes] of Object.entries(entries)) {
    if (name.endsWith('/')) continue;
    const target = resolve(dir, name);
    if (!target.startsWith(`${dir}/`)) throw new UsageError(`${file}: entry ${name} lies outside the charm`);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, bytes);
    if (bytes[0] === 0x23 && bytes[1] === 0x21) await chmod(target, 0o755);
  }
  return dir;
}

/** A charm argument: a known name, a charm directory (with metadata.yaml), or a packed `.charm` file. */
export async function resolveCharm(arg: string, modelDir: string): Promise<string> {
  const looksLikePath = arg.includes('/') || arg.startsWith('.');
  if (!looksLikePath && BY_NAME[arg]) return BY_NAME[arg];
  const path = resolve(arg);
  const found = await stat(path).catch(() => undefined);
  if (found?.isFile() && path.endsWith('.charm')) return unpack(path, modelDir);
  if (found?.isDirectory() && (await stat(join(path, 'metadata.yaml')).catch(() => undefined))) return path;
  throw new UsageError(
    `charm "${arg}" not found: give a charm directory, a packed .charm file or one of ${CHARM_NAMES.join(', ')}`,
  );
}
