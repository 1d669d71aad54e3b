/**
 * Dynamic Large Objects as distribution's swift driver writes them: segments
 * `<prefix>/segments/<xxx>/<hash>/<%016d>` joined by a manifest object (`X-Object-Manifest:
 * <container>/<segments prefix>`). The driver reads and moves them; the writer makes them.
 */
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { StorageError } from '@regop/storage';
import { header, type SwiftClient } from './client.js';
import { manifestPrefix, segmentName, trimSlashes } from './names.js';

/** How long a new manifest may take to show all of its segments (distribution: 15 s). */
const READ_AFTER_WRITE_TIMEOUT_MS = 15_000;

export interface Segment {
  name: string;
  bytes: number;
}

export class LargeObjects {
  constructor(private readonly client: SwiftClient) {}

  /** A fresh segment prefix for a path: random, so a new upload never mixes with an old one. */
  newSegmentsPath(path: string): string {
    const hash = createHash('sha1').update(path).update(randomBytes(32)).digest('hex');
    return trimSlashes(`${this.client.options.prefix}/segments/${hash.slice(0, 3)}/${hash.slice(3)}`);
  }

  /**
   * The segments below a prefix in order: the listing, completed by HEAD requests for the numbers after
   * it (segments are written in sequence and each once, so HEAD is reliable where a listing may lag).
   */
  async segments(prefix: string): Promise<Segment[]> {
    const found: Segment[] = [];
    for await (const entry of this.client.listing(`${prefix}/`))
      if (entry.kind === 'object') found.push({ name: entry.name, bytes: entry.bytes });
    const listed = new Set(found.map((s) => s.name));
    for (let n = found.length + 1; ; n++) {
      const name = segmentName(prefix, n);
      if (listed.has(name)) continue;
      const head = await this.client.request('HEAD', name, { missing: 'absent' });
      if (!head) break;
      found.push({ name, bytes: Number(header(head, 'content-length') ?? 0) });
    }
    return found.sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** The size of a large object, from its manifest's `container/prefix`. */
  async size(manifest: string): Promise<number> {
    const segments = await this.segments(manifestPrefix(manifest));
    return segments.reduce((sum, s) => sum + s.bytes, 0);
  }

  /** Writes the manifest of a large object, then waits until Swift reports all of its bytes. */
  async putManifest(name: string, segmentsPrefix: string, size: number): Promise<void> {
    await this.client.request('PUT', name, {
      headers: {
        'x-object-manifest': `${this.client.options.container}/${segmentsPrefix}`,
        'content-type': 'application/octet-stream',
        'content-length': '0',
      },
    });
    const deadline = Date.now() + READ_AFTER_WRITE_TIMEOUT_MS;
    for (let wait = 100; ; wait *= 2) {
      const head = await this.client.request('HEAD', name, { ok: 'any' });
      if (head.status < 300 && Number(header(head, 'content-length')) === size) return;
      if (Date.now() + wait > deadline)
        throw new StorageError(`swift: timed out waiting for the segments of ${name} to show up`, 'swift');
      await sleep(wait);
    }
  }

  /** Deletes an object and the segments under a prefix (a cancelled writer's, whose manifest may not exist). */
  async delete(name: string, segmentsPrefix: string): Promise<void> {
    await this.client.deleteObjects([name]);
    await this.client.deleteObjects((await this.segments(segmentsPrefix)).map((s) => s.name));
  }
}
