import { type BaseDriver, isPathNotFound } from '@regop/storage';
import { MAX_MANIFEST_BYTES } from '../content/manifests.js';
import { paths } from '../paths.js';
import type { Digest } from '../reference.js';

/** What a stored manifest points at. Lenient: it reads what distribution may have stored, schema1 included. */
export interface ManifestReferences {
  blobs: string[];
  children: string[];
  subject?: string;
}

type Json = Record<string, unknown>;
const digestOf = (value: unknown): string | undefined => {
  const digest = (value as Json | undefined)?.digest;
  return typeof digest === 'string' ? digest : undefined;
};
const digests = (list: unknown, key = 'digest'): string[] =>
  Array.isArray(list)
    ? list.map((d) => (d as Json)?.[key]).filter((d): d is string => typeof d === 'string')
    : [];

export function manifestReferences(content: Buffer): ManifestReferences {
  const json = JSON.parse(content.toString('utf8')) as Json;
  const config = digestOf(json.config);
  const subject = digestOf(json.subject);
  return {
    blobs: [...(config ? [config] : []), ...digests(json.layers), ...digests(json.fsLayers, 'blobSum')],
    children: digests(json.manifests),
    ...(subject && { subject }),
  };
}

/**
 * The references of the manifests a run reads, each read once: a digest names its content, so what was read
 * stays true for the whole run. Null marks one that is missing or not JSON, or larger than any manifest may be
 * (a revision link to a layer in a damaged store): its size is looked at first, and it is not read, as
 * distribution reads at most 4 MiB of a manifest.
 */
export class ManifestReader {
  private readonly read = new Map<string, ManifestReferences | null>();

  constructor(private readonly driver: BaseDriver) {}

  /** Reads those not read yet, in one call where the driver batches. */
  async readAll(digests: Digest[]): Promise<void> {
    const unread = digests.filter((d) => !this.read.has(`${d}`));
    const sizes = await this.driver.statMany(unread.map((d) => paths.blobData(d)));
    const readable = unread.filter((_, i) => isManifestSized(sizes[i]));
    const contents = await this.driver.getContentMany(readable.map((d) => paths.blobData(d)));
    for (const digest of unread) this.read.set(`${digest}`, null);
    readable.forEach((digest, i) => {
      const content = contents[i];
      if (content) this.read.set(`${digest}`, parsed(content));
    });
  }

  /** What was read of a manifest: null when it was not read or could not be. */
  known(digest: string): ManifestReferences | null {
    return this.read.get(digest) ?? null;
  }

  /**
   * A manifest's references, read now unless read before; a quarantine of this run's is looked in too. One
   * that could not be read before is tried again when `retry` says so.
   */
  async get(digest: Digest, options: { quarantine?: string; retry?: boolean } = {}) {
    const key = `${digest}`;
    const cached = this.read.get(key);
    if (cached !== undefined && !(cached === null && options.retry)) return cached;
    let refs: ManifestReferences | null = null;
    const places = [paths.blobData(digest)];
    if (options.quarantine) places.push(paths.gcQuarantine(options.quarantine, digest));
    for (const path of places) {
      try {
        if (!isManifestSized(await this.driver.stat(path))) continue;
        refs = parsed(await this.driver.getContent(path));
        if (refs) break;
      } catch (err) {
        if (!isPathNotFound(err)) throw err;
      }
    }
    this.read.set(key, refs);
    return refs;
  }
}

/** Whether a stored file may be a manifest: a file no larger than a manifest may be. */
function isManifestSized(info: { size: number; isDir: boolean } | undefined): boolean {
  return info !== undefined && !info.isDir && info.size <= MAX_MANIFEST_BYTES;
}

function parsed(content: Buffer): ManifestReferences | null {
  try {
    return manifestReferences(content);
  } catch (err) {
    if (err instanceof SyntaxError) return null;
    throw err;
  }
}
