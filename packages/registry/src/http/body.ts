import type { IncomingMessage } from 'node:http';
import { RegistryError } from '../errors.js';

/** True when the request carries a body (a length above zero, or chunked transfer). */
export function hasBody(raw: IncomingMessage): boolean {
  const length = raw.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return raw.headers['transfer-encoding'] !== undefined;
}

/** Reads a small body (a manifest) whole, refusing anything over `limit` bytes before holding it. */
export async function readLimited(raw: IncomingMessage, limit: number, what: string): Promise<Buffer> {
  const declared = Number(raw.headers['content-length'] ?? 0);
  const tooLarge = () =>
    new RegistryError('MANIFEST_INVALID', `${what} is larger than ${limit} bytes`, undefined, 413);
  if (declared > limit) {
    raw.resume();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of raw) {
    total += (chunk as Buffer).length;
    if (total > limit) {
      raw.resume();
      throw tooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
