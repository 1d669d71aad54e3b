import { type BaseDriver, PathNotFoundError } from '@regop/storage';
import { RegistryError } from '../errors.js';
import { paths } from '../paths.js';
import type { Digest } from '../reference.js';
import { deleteIfExists, listIfExists, readLink, statIfExists, writeLink } from './links.js';
import { lowerBound } from './sorted.js';

export interface TagPush {
  tag: string;
  pushed: Date;
}

/** Tags: `_manifests/tags/<tag>/current/link` names the manifest, `index/` remembers every one it named. */
export class TagStore {
  constructor(private readonly driver: BaseDriver) {}

  async repositoryExists(name: string): Promise<boolean> {
    return (await statIfExists(this.driver, paths.repository(name)))?.isDir === true;
  }

  async resolve(name: string, tag: string): Promise<Digest> {
    const digest = await readLink(this.driver, paths.tagCurrentLink(name, tag));
    if (digest) return digest;
    if (!(await this.repositoryExists(name))) throw unknownName(name);
    throw new RegistryError('MANIFEST_UNKNOWN', `manifest tagged ${tag} is not in repository ${name}`, {
      tag,
    });
  }

  async tag(name: string, tag: string, digest: Digest): Promise<void> {
    await writeLink(this.driver, paths.tagIndexLink(name, tag, digest), digest);
    await writeLink(this.driver, paths.tagCurrentLink(name, tag), digest);
  }

  async untag(name: string, tag: string): Promise<void> {
    if (!(await deleteIfExists(this.driver, paths.tagDir(name, tag)))) {
      if (!(await this.repositoryExists(name))) throw unknownName(name);
      throw new RegistryError('MANIFEST_UNKNOWN', `tag ${tag} is not in repository ${name}`, { tag });
    }
  }

  /** All tags, sorted; NAME_UNKNOWN when the repository does not exist. */
  list(name: string): Promise<string[]> {
    return this.page(name, Number.POSITIVE_INFINITY);
  }

  /**
   * At most `limit` tags in order, those after `last` when given; NAME_UNKNOWN when the repository does not
   * exist. Where a page starts is found by binary search, and only its tags are taken out of their paths: a
   * repository may have 100,000 tags.
   */
  async page(name: string, limit: number, last?: string): Promise<string[]> {
    // Sorted already: the driver lists in order, and every path has the same prefix.
    const dirs = await listIfExists(this.driver, paths.tagsDir(name));
    if (dirs.length === 0 && !(await this.repositoryExists(name))) throw unknownName(name);
    let from = 0;
    if (last !== undefined) {
      const after = paths.tagDir(name, last);
      from = lowerBound(dirs, after);
      if (dirs[from] === after) from++;
    }
    return dirs.slice(from, from + limit).map((d) => d.slice(d.lastIndexOf('/') + 1));
  }

  /**
   * Every tag with the time it was last pushed (its current link's, as retention reads it), newest first. On an
   * object store one listing of the tags carries every time: a request per thousand keys (each tag's current
   * link and one index link per digest it has named), where a stat each would be a request each. Elsewhere, one
   * listing and one batch of stats.
   */
  async pushed(name: string): Promise<TagPush[]> {
    const found: TagPush[] = [];
    if (this.driver.flatListing) {
      await this.driver
        .walk(
          paths.tagsDir(name),
          (info) => {
            const tag = info.isDir ? undefined : paths.tagOfCurrentLink(name, info.path);
            if (tag !== undefined) found.push({ tag, pushed: info.modTime });
          },
          { unordered: true },
        )
        .catch((err: unknown) => {
          if (!(err instanceof PathNotFoundError)) throw err;
        });
      if (found.length === 0 && !(await this.repositoryExists(name))) throw unknownName(name);
    } else {
      const tags = await this.list(name);
      const infos = await this.driver.statMany(tags.map((tag) => paths.tagCurrentLink(name, tag)));
      tags.forEach((tag, i) => {
        const info = infos[i];
        if (info && !info.isDir) found.push({ tag, pushed: info.modTime });
      });
    }
    return found.sort((a, b) => b.pushed.getTime() - a.pushed.getTime() || (a.tag < b.tag ? -1 : 1));
  }

  /** Tags whose current link names `digest`. */
  async tagsOf(name: string, digest: Digest): Promise<string[]> {
    const tags = await listIfExists(this.driver, paths.tagsDir(name));
    const found: string[] = [];
    await Promise.all(
      tags.map(async (dir) => {
        const tag = dir.slice(dir.lastIndexOf('/') + 1);
        if ((await readLink(this.driver, paths.tagCurrentLink(name, tag)))?.equals(digest)) found.push(tag);
      }),
    );
    return found.sort();
  }
}

export const unknownName = (name: string) =>
  new RegistryError('NAME_UNKNOWN', `repository ${name} not known to registry`, { name });
