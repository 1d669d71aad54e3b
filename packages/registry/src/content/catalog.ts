import type { StorageDriver } from '@regop/storage';
import { REPOSITORIES } from '../paths.js';
import { listIfExists } from './links.js';

/** Orders repository names component by component, as distribution's catalog walk does. */
export function compareNames(a: string, b: string): number {
  const pa = a.split('/');
  const pb = b.split('/');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i] as string;
    const y = pb[i] as string;
    if (x !== y) return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

/**
 * Lists repositories in catalog order: a directory is a repository when it holds `_manifests`. Subtrees that
 * sort wholly before `last` are skipped without being listed, and the walk stops once `limit` names are found.
 */
export async function listRepositories(
  driver: StorageDriver,
  limit: number,
  last?: string,
): Promise<string[]> {
  const found: string[] = [];
  const visit = async (dir: string, prefix: string): Promise<void> => {
    const children = await listIfExists(driver, dir);
    const names = children.map((c) => c.slice(c.lastIndexOf('/') + 1));
    if (prefix && names.includes('_manifests') && (last === undefined || compareNames(prefix, last) > 0)) {
      found.push(prefix);
    }
    for (const name of names) {
      if (found.length >= limit) return;
      if (name.startsWith('_')) continue;
      const repo = prefix ? `${prefix}/${name}` : name;
      // Everything below `repo` sorts before `last` unless `last` lies inside it or after it.
      if (last !== undefined && compareNames(repo, last) < 0 && !last.startsWith(`${repo}/`)) continue;
      await visit(`${dir}/${name}`, repo);
    }
  };
  await visit(REPOSITORIES, '');
  return found;
}
