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

/** Directories listed at once while walking: on an object store each listing is a request. */
const LISTINGS_AT_ONCE = 16;

/**
 * Lists repositories in catalog order: a directory is a repository when it holds `_manifests`. Subtrees that
 * sort wholly before `last` are skipped without being listed, and the walk stops once `limit` names are found.
 * Sibling directories are listed LISTINGS_AT_ONCE at a time ahead of the walk (on an object store, a page of
 * 100 repositories was 100 requests one after another); the walk still takes them in order.
 */
export async function listRepositories(
  driver: StorageDriver,
  limit: number,
  last?: string,
): Promise<string[]> {
  const found: string[] = [];
  const visit = async (children: string[], prefix: string): Promise<void> => {
    const names = children.map((c) => c.slice(c.lastIndexOf('/') + 1));
    if (prefix && names.includes('_manifests') && (last === undefined || compareNames(prefix, last) > 0)) {
      found.push(prefix);
    }
    // Everything below a child sorts before `last` unless `last` lies inside it or after it.
    const wanted = names
      .filter((name) => !name.startsWith('_'))
      .map((name) => ({ name, repo: prefix ? `${prefix}/${name}` : name }))
      .filter(
        ({ repo }) => last === undefined || compareNames(repo, last) >= 0 || last.startsWith(`${repo}/`),
      );
    const dir = prefix ? `${REPOSITORIES}/${prefix}` : REPOSITORIES;
    for (let i = 0; i < wanted.length && found.length < limit; i += LISTINGS_AT_ONCE) {
      const window = wanted.slice(i, i + LISTINGS_AT_ONCE);
      const listings = await Promise.all(window.map(({ name }) => listIfExists(driver, `${dir}/${name}`)));
      for (const [j, { repo }] of window.entries()) {
        if (found.length >= limit) return;
        await visit(listings[j] as string[], repo);
      }
    }
  };
  await visit(await listIfExists(driver, REPOSITORIES), '');
  return found;
}
