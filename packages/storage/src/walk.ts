import { type FileInfo, SkipDir, StopWalk, type WalkFn } from './driver.js';

/**
 * An unordered walk over an object store's flat listing: `files` are the objects below `path` in key order;
 * each directory is made up from the keys and visited before its first file, and SkipDir and StopWalk
 * apply. Resolves false when there was no file at all (the path does not exist).
 */
export async function walkFlatListing(
  path: string,
  files: AsyncIterable<FileInfo>,
  fn: WalkFn,
): Promise<boolean> {
  const base = path === '/' ? '' : path;
  const seenDirs = new Set<string>();
  // A file is skipped when one of its directories is: a lookup per level, however many were skipped (a
  // collection skips a directory per blob).
  const skipped = new Set<string>();
  let any = false;
  for await (const file of files) {
    any = true;
    const parts = file.path.slice(base.length + 1).split('/');
    let dir = base;
    let skip = false;
    for (const part of parts.slice(0, -1)) {
      dir = `${dir}/${part}`;
      if (skipped.has(dir)) {
        skip = true;
        break;
      }
      if (seenDirs.has(dir)) continue;
      seenDirs.add(dir);
      const result = await fn({ path: dir, size: 0, modTime: file.modTime, isDir: true });
      if (result === StopWalk) return true;
      if (result === SkipDir) {
        skipped.add(dir);
        skip = true;
        break;
      }
    }
    if (skip) continue;
    if ((await fn(file)) === StopWalk) return true;
  }
  return any;
}
