import { type BaseDriver, type FileInfo, mapLimited, SkipDir, type StorageDriver } from '@regop/storage';
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

/**
 * A layer link, by the digest its path names. A link's time matters only for a blob that may go: on a
 * filesystem it is read then (linkTimes), and the walk lists `_layers/<alg>/` without opening each link's
 * directory; an object store's listing gives it at no cost.
 */
export interface LayerLink {
  digest: Digest;
  modTime?: Date;
}

/**
 * What the repositories tree holds, from one walk: revisions (`R`: with their times or by digest alone), layer
 * links, and tags with their times.
 */
export interface RepositoryInventory<R> {
  revisions: Map<string, R[]>;
  layers: Map<string, LayerLink[]>;
  tags: TagLink[];
}

/** Appends to the list a map holds for a key. */
export const addTo = <T>(map: Map<string, T[]>, key: string, value: T) => {
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

/** What a walk of `repositories/` reads beyond names; uploads, tag histories and referrers it never reads. */
interface WalkPlan {
  /** Each revision's link and its time (a listing of each revision's directory); otherwise its name. */
  revisionTimes: boolean;
  /** Tags and their times (two listings for each tag); otherwise none. */
  tags: boolean;
}

/**
 * Walks `repositories/` once. The walk's listing gives the time of every link it reaches, so nothing is
 * stat'ed one by one.
 */
async function walkRepositories<R>(
  driver: StorageDriver,
  plan: WalkPlan,
  revision: (digest: Digest, modTime: Date) => R,
): Promise<RepositoryInventory<R>> {
  const inventory: RepositoryInventory<R> = { revisions: new Map(), layers: new Map(), tags: [] };
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
      if (kind === '_layers' && b !== undefined && (c === 'link' || !driver.flatListing)) {
        const digest = digestAt(a, b);
        if (digest) addTo(inventory.layers, repository, c ? { digest, modTime: info.modTime } : { digest });
        return SkipDir;
      }
      if (kind !== '_manifests') return;
      if (a === 'tags' && (!plan.tags || c === 'index')) return SkipDir;
      if (a === 'revisions' && c !== undefined && !plan.revisionTimes) {
        const digest = digestAt(b, c);
        if (digest) addTo(inventory.revisions, repository, revision(digest, info.modTime));
        return SkipDir;
      }
      if (info.isDir) return;
      if (a === 'revisions' && d === 'link') {
        const digest = digestAt(b, c);
        if (digest) addTo(inventory.revisions, repository, revision(digest, info.modTime));
      } else if (a === 'tags' && c === 'current' && d === 'link' && b) {
        inventory.tags.push({ repository, tag: b, modTime: info.modTime });
      }
    },
    { unordered: true },
  );
  return inventory;
}

/** What marking needs: revisions with their times, layer links, and tags when asked for. */
export const inventoryRepositories = (driver: StorageDriver, options: { tags: boolean }) =>
  walkRepositories(
    driver,
    { revisionTimes: true, ...options },
    (digest, modTime): Dated => ({ digest, modTime }),
  );

/**
 * What the rescan needs: revisions and layer links by name (a revision's time is no matter: every revision
 * there is is either one marking kept or one written since). Tags it reads afresh where it needs them
 * (currentTags).
 */
export const listRepositories = (driver: StorageDriver) =>
  walkRepositories(driver, { revisionTimes: false, tags: false }, (digest) => digest);

export interface BlobInfo extends Dated {
  size: number;
}

/** A blob in `blobs/`; its size and time when the walk's listing gave them (an object store's does). */
export type StoredBlob = Partial<BlobInfo> & { digest: Digest };

/**
 * Every blob in `blobs/`. On a filesystem, by the names of their directories, one listing per two-hex-digit
 * directory: a directory whose data an earlier collection deleted is listed too, which blobInfos tells apart.
 */
export async function inventoryBlobs(driver: StorageDriver): Promise<Map<string, StoredBlob>> {
  const blobs = new Map<string, StoredBlob>();
  if ((await listIfExists(driver, paths.blobsRoot)).length === 0) return blobs;
  await driver.walk(
    paths.blobsRoot,
    (info) => {
      const [alg, , hex, file] = info.path.slice(paths.blobsRoot.length + 1).split('/');
      if (hex === undefined || (driver.flatListing && file === undefined)) return;
      const digest = digestAt(alg, hex);
      if (digest && file === undefined) blobs.set(`${digest}`, { digest });
      else if (digest && file === 'data')
        blobs.set(`${digest}`, { digest, size: info.size, modTime: info.modTime });
      return SkipDir;
    },
    { unordered: true },
  );
  return blobs;
}

/**
 * Sizes and times of blobs (a stat each, unless the listing gave them); a blob whose data is gone is left out.
 */
export async function blobInfos(driver: BaseDriver, blobs: StoredBlob[]): Promise<BlobInfo[]> {
  const known: BlobInfo[] = [];
  const unknown: Digest[] = [];
  for (const { digest, size, modTime } of blobs) {
    if (size !== undefined && modTime !== undefined) known.push({ digest, size, modTime });
    else unknown.push(digest);
  }
  const infos = await driver.statMany(unknown.map((digest) => paths.blobData(digest)));
  unknown.forEach((digest, i) => {
    const info = infos[i];
    if (info) known.push({ digest, size: info.size, modTime: info.modTime });
  });
  return known;
}

/**
 * When repositories' layer links were written (a stat each, unless the listing gave it); undefined for a link
 * that is gone.
 */
export async function linkTimes(
  driver: BaseDriver,
  links: { repository: string; link: LayerLink }[],
): Promise<(Date | undefined)[]> {
  const unknown = links.filter(({ link }) => link.modTime === undefined);
  const infos = await driver.statMany(
    unknown.map(({ repository, link }) => paths.layerLink(repository, link.digest)),
  );
  const read = new Map(unknown.map((l, i) => [l, infos[i]?.modTime]));
  return links.map((l) => l.link.modTime ?? read.get(l));
}

/** The digest a tag's current link names. */
export const readTag = (driver: StorageDriver, tag: TagLink) =>
  readLink(driver, paths.tagCurrentLink(tag.repository, tag.tag));

/** The digests a repository's tags name now, read afresh. */
export async function currentTags(driver: StorageDriver, repository: string): Promise<Digest[]> {
  const dirs = await listIfExists(driver, paths.tagsDir(repository));
  const digests = await mapLimited(dirs, (dir) =>
    readLink(driver, paths.tagCurrentLink(repository, dir.slice(dir.lastIndexOf('/') + 1))),
  );
  return digests.filter((d) => d !== undefined);
}
