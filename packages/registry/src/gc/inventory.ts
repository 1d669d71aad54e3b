import { type FileInfo, SkipDir, type StorageDriver } from '@regop/storage';
import { listIfExists, readLink } from '../content/links.js';
import { paths, REPOSITORIES } from '../paths.js';
import { Digest } from '../reference.js';

export interface Dated {
  digest: Digest;
  modTime: Date;
}

export interface TagLink {
  repository: string;
  tag: string;
  modTime: Date;
}

/** What the repositories tree holds, from one walk: revisions, layer links and tags, with their times. */
export interface RepositoryInventory {
  revisions: Map<string, Dated[]>;
  layers: Map<string, Dated[]>;
  tags: TagLink[];
}

const push = <T>(map: Map<string, T[]>, key: string, value: T) => {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
};

const digestAt = (alg: string | undefined, hex: string | undefined): Digest | undefined => {
  try {
    return Digest.parse(`${alg}:${hex}`);
  } catch {
    return undefined;
  }
};

/**
 * Walks `repositories/` once. The walk's listing gives every link's time, so nothing is stat'ed one by one;
 * uploads, tag histories and the referrers index are skipped.
 */
export async function inventoryRepositories(driver: StorageDriver): Promise<RepositoryInventory> {
  const inventory: RepositoryInventory = { revisions: new Map(), layers: new Map(), tags: [] };
  if ((await listIfExists(driver, REPOSITORIES)).length === 0) return inventory;
  await driver.walk(
    REPOSITORIES,
    (info: FileInfo) => {
      const segments = info.path.slice(REPOSITORIES.length + 1).split('/');
      const at = segments.findIndex((s) => s.startsWith('_'));
      if (at <= 0) return;
      const repository = segments.slice(0, at).join('/');
      const [kind, a, b, c, d] = segments.slice(at);
      if (kind === '_uploads' || kind === '_referrers') return SkipDir;
      if (kind === '_manifests' && a === 'tags' && c === 'index') return SkipDir;
      if (info.isDir) return;
      if (kind === '_layers' && c === 'link') {
        const digest = digestAt(a, b);
        if (digest) push(inventory.layers, repository, { digest, modTime: info.modTime });
      } else if (kind === '_manifests' && a === 'revisions' && d === 'link') {
        const digest = digestAt(b, c);
        if (digest) push(inventory.revisions, repository, { digest, modTime: info.modTime });
      } else if (kind === '_manifests' && a === 'tags' && c === 'current' && d === 'link' && b) {
        inventory.tags.push({ repository, tag: b, modTime: info.modTime });
      }
    },
    { unordered: true },
  );
  return inventory;
}

export interface BlobInfo extends Dated {
  size: number;
}

/** Every blob in `blobs/`, from one walk. */
export async function inventoryBlobs(driver: StorageDriver): Promise<Map<string, BlobInfo>> {
  const blobs = new Map<string, BlobInfo>();
  if ((await listIfExists(driver, paths.blobsRoot)).length === 0) return blobs;
  await driver.walk(
    paths.blobsRoot,
    (info) => {
      if (info.isDir || !info.path.endsWith('/data')) return;
      const [alg, , hex] = info.path.slice(paths.blobsRoot.length + 1).split('/');
      const digest = digestAt(alg, hex);
      if (digest) blobs.set(`${digest}`, { digest, size: info.size, modTime: info.modTime });
    },
    { unordered: true },
  );
  return blobs;
}

/** The digest a tag's current link names. */
export const readTag = (driver: StorageDriver, tag: TagLink) =>
  readLink(driver, paths.tagCurrentLink(tag.repository, tag.tag));
