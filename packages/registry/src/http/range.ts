import type { ContentRange } from '../content/uploads.js';
import { RegistryError } from '../errors.js';

/** A single byte range of a `Range: bytes=...` header, resolved against `size`; undefined to send it all. */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | undefined {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Malformed or multi-range headers are ignored (RFC 9110 lets a server send the whole representation).
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  const [, from = '', to = ''] = match;
  let start: number;
  let end: number;
  if (from === '') {
    start = Math.max(0, size - Number(to));
    end = size - 1;
  } else {
    start = Number(from);
    end = to === '' ? size - 1 : Math.min(Number(to), size - 1);
  }
  if (start >= size || start > end || (from === '' && Number(to) === 0)) {
    throw new RegistryError('RANGE_INVALID', `range ${header} not satisfiable for ${size} bytes`, { size });
  }
  return { start, end };
}

/** The upload chunk's Content-Range (`<start>-<end>`, as Docker clients send it, or `bytes <start>-<end>/<total>`). */
export function parseContentRange(header: string | undefined): ContentRange | undefined {
  if (header === undefined) return undefined;
  const match = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!match)
    throw new RegistryError(
      'BLOB_UPLOAD_INVALID',
      `invalid Content-Range ${JSON.stringify(header.slice(0, 100))}`,
    );
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (end < start) throw new RegistryError('RANGE_INVALID', `Content-Range ${header} ends before it starts`);
  return { start, end };
}
