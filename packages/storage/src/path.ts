import { InvalidPathError } from './errors.js';

// distribution's PathRegexp: absolute, `/`-separated, no empty segments, no `.`/`..` segments. Checked on every
// driver call, so as two regular expressions over the whole path rather than a split.
const PATH = /^(?:\/[A-Za-z0-9._-]+)+$/;
const DOT_SEGMENT = /\/\.\.?(?:\/|$)/;

/** True when `path` is a valid driver path: `/` or `/seg/seg...` with safe, non-dot segments. */
export function isValidPath(path: string): boolean {
  return path === '/' || (PATH.test(path) && !DOT_SEGMENT.test(path));
}

/** Throws InvalidPathError unless the path is valid. */
export function checkPath(path: string, driver: string): string {
  if (!isValidPath(path)) throw new InvalidPathError(path, driver);
  return path;
}

export function joinPath(...parts: string[]): string {
  const joined = parts.join('/').replace(/\/+/g, '/');
  return joined.length > 1 && joined.endsWith('/') ? joined.slice(0, -1) : joined;
}

export function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
