import type { StorageDriver } from '@regop/storage';
import { REPOSITORIES } from '../paths.js';
import { listIfExists } from './links.js';
import { lowerBound } from './sorted.js';

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
 * sort wholly before `last` are skipped without being listed (found by a binary search in a level's sorted
 * listing, not by looking at each entry: a level may hold 100,000 repositories), and the walk stops once `limit`
 * names are found. Sibling directories are listed LISTINGS_AT_ONCE at a time ahead of the walk (on an object
 * store, a page of 100 repositories was 100 requests one after another); the walk still takes them in order.
 */
export async function listRepositories(
  driver: StorageDriver,
  limit: number,
  last?: string,
): Promise<string[]> {
  const found: string[] = [];
  const visit = async (children: string[], prefix: string): Promise<void> => {
    const dir = prefix ? `${REPOSITORIES}/${prefix}` : REPOSITORIES;
    const manifests = `${dir}/_manifests`;
    if (prefix && (last === undefined || compareNames(prefix, last) > 0)) {
      if (children[lowerBound(children, manifests)] === manifests) found.push(prefix);
    }
    // A visited level sorts after `last` or holds it: then its children from the one on `last`'s path on.
    let from = 0;
    if (last !== undefined && (!prefix || last.startsWith(`${prefix}/`)))
      from = lowerBound(children, `${dir}/${last.slice(prefix ? prefix.length + 1 : 0).split('/')[0]}`);
    for (let i = from; i < children.length && found.length < limit; i += LISTINGS_AT_ONCE) {
      const window = children
        .slice(i, i + LISTINGS_AT_ONCE)
        .map((child) => child.slice(child.lastIndexOf('/') + 1))
        .filter((name) => !name.startsWith('_'));
      const listings = await Promise.all(window.map((name) => listIfExists(driver, `${dir}/${name}`)));
      for (const [j, name] of window.entries()) {
        if (found.length >= limit) return;
        await visit(listings[j] as string[], prefix ? `${prefix}/${name}` : name);
      }
    }
  };
  await visit(await listIfExists(driver, REPOSITORIES), '');
  return found;
}
