import { setFlagsFromString } from 'node:v8';

/**
 * Node's HTTP parser hands every request-body chunk over in a fresh 64 KiB Buffer, and V8 counts that memory,
 * once allocated, against the old generation's limit until the next full collection, although nearly all of it
 * dies young. With this server's small heap (~13 MB live) and V8's usual growing factor, 10-20 MB of upload
 * reached the limit: two or three full mark-compacts for every 64 MiB pushed, a quarter of the server's CPU.
 * Letting the old generation grow to four times its live size before the next one (V8's own largest factor)
 * leaves the scavenges, which free those buffers anyway, to do the work. Read at each full collection, so it
 * takes effect when set at run time.
 */
export function tuneHeapForUploads(): void {
  setFlagsFromString('--heap-growing-percent=300');
}
