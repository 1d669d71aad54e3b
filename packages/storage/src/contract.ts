/**
 * The driver contract suite, after distribution's storagedriver testsuites: every driver runs it,
 * unchanged, against its real backend. Call it from a driver's test file:
 *   runDriverContract('filesystem', async () => ({ driver, cleanup }))
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BaseDriver } from './base.js';
import { type FileInfo, SkipDir, type StorageDriver } from './driver.js';
import {
  BackendUnavailableError,
  InvalidOffsetError,
  InvalidPathError,
  PathNotFoundError,
} from './errors.js';
import { repeatStream } from './streams.js';

export interface ContractFixture {
  driver: StorageDriver;
  cleanup(): Promise<void>;
}

export interface ContractOptions {
  /** Bytes streamed by the large-file test (default 1 GiB). */
  largeFileSize?: number;
  /** Timeout of the large-file test, in ms. */
  largeFileTimeout?: number;
  /** The same driver configured for a backend that is not there (a closed port); absent for local drivers. */
  unreachable?: () => StorageDriver;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function runDriverContract(
  name: string,
  setup: () => Promise<ContractFixture>,
  options: ContractOptions = {},
): void {
  describe(`storage driver contract: ${name}`, () => {
    let fixture: ContractFixture;
    let d: BaseDriver;
    let n = 0;
    // Every test gets its own directory so tests never see each other's files.
    const dir = () => `/contract-${process.pid}-${++n}`;

    beforeAll(async () => {
      fixture = await setup();
      // The driver as the registry sees it: behind the base wrapper.
      d = BaseDriver.wrap(fixture.driver);
    }, 120_000);
    afterAll(async () => {
      await fixture?.cleanup();
    }, 120_000);

    it('puts and gets content, replacing it on a second put', async () => {
      const p = `${dir()}/a/b/file`;
      await d.putContent(p, 'first');
      expect((await d.getContent(p)).toString()).toBe('first');
      await d.putContent(p, Buffer.from('second, longer'));
      expect((await d.getContent(p)).toString()).toBe('second, longer');
      await d.putContent(p, '');
      expect((await d.getContent(p)).length).toBe(0);
    });

    it('puts scratch content (not durable) as it puts any, into a new directory or over a file', async () => {
      const upload = `${dir()}/scratch/new`;
      await d.putContent(`${upload}/startedat`, '2026-12-07T07:50:57Z', { durable: false });
      expect((await d.getContent(`${upload}/startedat`)).toString()).toBe('2026-12-07T07:50:57Z');
      await d.putContent(`${upload}/startedat`, '', { durable: false });
      expect((await d.getContent(`${upload}/startedat`)).length).toBe(0);
      await d.putContent(`${upload}/data`, '', { durable: false });
      expect(await d.list(upload)).toEqual([`${upload}/data`, `${upload}/startedat`]);
    });

    it('rejects missing paths with PathNotFoundError', async () => {
      const p = `${dir()}/missing`;
      await expect(d.getContent(p)).rejects.toBeInstanceOf(PathNotFoundError);
      await expect(d.reader(p, 0)).rejects.toBeInstanceOf(PathNotFoundError);
      await expect(d.stat(p)).rejects.toBeInstanceOf(PathNotFoundError);
      await expect(d.list(p)).rejects.toBeInstanceOf(PathNotFoundError);
      await expect(d.delete(p)).rejects.toBeInstanceOf(PathNotFoundError);
      await expect(d.move(p, `${p}2`)).rejects.toBeInstanceOf(PathNotFoundError);
    });

    it('reads from any offset; past the end is InvalidOffsetError', async () => {
      const p = `${dir()}/offsets`;
      const content = randomBytes(100_000);
      await d.putContent(p, content);
      expect((await readAll(await d.reader(p, 0))).equals(content)).toBe(true);
      expect((await readAll(await d.reader(p, 12_345))).equals(content.subarray(12_345))).toBe(true);
      expect((await readAll(await d.reader(p, content.length))).length).toBe(0);
      await expect(d.reader(p, content.length + 1)).rejects.toBeInstanceOf(InvalidOffsetError);
      await expect(d.reader(p, -1)).rejects.toBeInstanceOf(InvalidOffsetError);
    });

    it('reads an empty file', async () => {
      const p = `${dir()}/empty`;
      await d.putContent(p, '');
      expect((await readAll(await d.reader(p, 0))).length).toBe(0);
      expect((await d.stat(p)).size).toBe(0);
      await expect(d.reader(p, 1)).rejects.toBeInstanceOf(InvalidOffsetError);
    });

    it('copies byte ranges into a writable when it offers copyTo', async (ctx) => {
      if (!d.copyTo) return ctx.skip();
      const p = `${dir()}/copied`;
      const content = randomBytes(3 * 1024 * 1024 + 123);
      await d.putContent(p, content);
      const copy = async (start: number, end: number) => {
        const chunks: Buffer[] = [];
        const sink = new Writable({
          write(chunk: Buffer, _enc, cb) {
            // Copy: the driver may reuse the buffer once this callback runs.
            chunks.push(Buffer.from(chunk));
            setImmediate(cb);
          },
        });
        await d.copyTo?.(p, sink, start, end);
        expect(sink.writableEnded).toBe(false);
        return Buffer.concat(chunks);
      };
      expect((await copy(0, content.length - 1)).equals(content)).toBe(true);
      expect((await copy(1_000_000, 2_500_000)).equals(content.subarray(1_000_000, 2_500_001))).toBe(true);
      expect((await copy(content.length - 1, content.length - 1)).equals(content.subarray(-1))).toBe(true);
      await expect(copy(content.length, content.length)).rejects.toBeInstanceOf(InvalidOffsetError);
      // Empty ranges: at the end of a file, and the whole of an empty one (a zero-byte blob).
      expect((await copy(content.length, content.length - 1)).length).toBe(0);
      await expect(copy(content.length + 1, content.length)).rejects.toBeInstanceOf(InvalidOffsetError);
      await d.putContent(`${p}-empty`, '');
      let written = 0;
      const sink = new Writable({
        write(chunk: Buffer, _enc, cb) {
          written += chunk.length;
          cb();
        },
      });
      await d.copyTo?.(`${p}-empty`, sink, 0, -1);
      expect(written).toBe(0);
      await expect(d.copyTo?.(`${dir()}/missing`, new Writable(), 0, 0)).rejects.toBeInstanceOf(
        PathNotFoundError,
      );
    });

    it('writes, commits and reports size', async () => {
      const p = `${dir()}/written`;
      const w = await d.writer(p, false);
      const content = randomBytes(3 * 1024 * 1024 + 17);
      await pipeline(Readable.from([content.subarray(0, 1000), content.subarray(1000)]), w);
      expect(w.size).toBe(content.length);
      await w.commit();
      expect((await d.getContent(p)).equals(content)).toBe(true);
      expect((await d.stat(p)).size).toBe(content.length);
    });

    it('resumes an uncommitted writer after reopening it in append mode', async () => {
      const p = `${dir()}/resumed`;
      const part1 = randomBytes(6 * 1024 * 1024 + 3);
      const part2 = randomBytes(1024 * 1024 + 5);
      const part3 = randomBytes(77);
      const w1 = await d.writer(p, false);
      await pipeline(Readable.from([part1]), w1);
      const w2 = await d.writer(p, true);
      expect(w2.size).toBe(part1.length);
      await pipeline(Readable.from([part2]), w2);
      const w3 = await d.writer(p, true);
      expect(w3.size).toBe(part1.length + part2.length);
      w3.write(part3);
      await w3.commit();
      expect(w3.size).toBe(part1.length + part2.length + part3.length);
      const all = await d.getContent(p);
      expect(all.equals(Buffer.concat([part1, part2, part3]))).toBe(true);
    });

    it('stats a file closed without commit at its size, and deletes it', async () => {
      const p = `${dir()}/open`;
      const chunk = randomBytes(6 * 1024 * 1024 + 1);
      const w1 = await d.writer(p, false);
      await pipeline(Readable.from([chunk]), w1);
      expect((await d.stat(p)).size).toBe(chunk.length);
      const w2 = await d.writer(p, true);
      await pipeline(Readable.from([chunk]), w2);
      expect((await d.stat(p)).size).toBe(2 * chunk.length);
      await d.delete(p);
      await expect(d.stat(p)).rejects.toBeInstanceOf(PathNotFoundError);
      // Nothing of it is left to append to.
      const w3 = await d.writer(p, true);
      expect(w3.size).toBe(0);
      w3.write('new');
      await w3.commit();
      expect((await d.getContent(p)).toString()).toBe('new');
    });

    it('truncates when a writer is opened without append', async () => {
      const p = `${dir()}/truncated`;
      await d.putContent(p, 'old content that is long');
      const w = await d.writer(p, false);
      expect(w.size).toBe(0);
      w.write('new');
      await w.commit();
      expect((await d.getContent(p)).toString()).toBe('new');
    });

    it('cancel discards the writer and its content', async () => {
      const p = `${dir()}/cancelled`;
      const w = await d.writer(p, false);
      w.write(randomBytes(1000));
      await w.cancel();
      await expect(d.stat(p)).rejects.toBeInstanceOf(PathNotFoundError);
    });

    it('stats files and directories', async () => {
      const base = dir();
      await d.putContent(`${base}/sub/file`, '12345');
      const file = await d.stat(`${base}/sub/file`);
      expect(file).toMatchObject({ path: `${base}/sub/file`, size: 5, isDir: false });
      expect(file.modTime.getTime()).toBeGreaterThan(Date.now() - 3_600_000);
      const sub = await d.stat(`${base}/sub`);
      expect(sub).toMatchObject({ path: `${base}/sub`, isDir: true });
    });

    it('stats and reads many paths at once, by its batch call or one at a time', async () => {
      const base = dir();
      await d.putContent(`${base}/a`, 'first');
      await d.putContent(`${base}/sub/b`, 'second!');
      // Present, missing, below a file, a directory, and one present again: answers keep the paths' order.
      const asked = [`${base}/a`, `${base}/missing`, `${base}/a/below`, `${base}/sub/b`, `${base}/a`];
      const infos = await d.statMany([...asked, `${base}/sub`]);
      expect(infos.map((i) => i?.size)).toEqual([5, undefined, undefined, 7, 5, 0]);
      expect(infos[5]?.isDir).toBe(true);
      expect(infos[3]).toEqual(await d.stat(`${base}/sub/b`));
      const contents = await d.getContentMany(asked);
      expect(contents.map((c) => c?.toString())).toEqual(['first', undefined, undefined, 'second!', 'first']);
      await expect(d.statMany(['relative'])).rejects.toBeInstanceOf(InvalidPathError);
      await expect(d.getContentMany(['relative'])).rejects.toBeInstanceOf(InvalidPathError);
    });

    it('lists direct children only, sorted, as full paths', async () => {
      const base = dir();
      await d.putContent(`${base}/b`, 'x');
      await d.putContent(`${base}/a/deep/file`, 'x');
      await d.putContent(`${base}/c/file`, 'x');
      expect(await d.list(base)).toEqual([`${base}/a`, `${base}/b`, `${base}/c`]);
      expect(await d.list(`${base}/a`)).toEqual([`${base}/a/deep`]);
      expect(await d.list('/')).toContain(base);
    });

    it('moves a file, creating parents and replacing an existing destination', async () => {
      const base = dir();
      await d.putContent(`${base}/src`, 'moved content');
      await d.putContent(`${base}/x/y/dst`, 'old');
      await d.move(`${base}/src`, `${base}/x/y/dst`);
      expect((await d.getContent(`${base}/x/y/dst`)).toString()).toBe('moved content');
      await expect(d.stat(`${base}/src`)).rejects.toBeInstanceOf(PathNotFoundError);
      await d.putContent(`${base}/src2`, 'two');
      await d.move(`${base}/src2`, `${base}/new/parent/dst`);
      expect((await d.getContent(`${base}/new/parent/dst`)).toString()).toBe('two');
    });

    it('deletes files and whole trees recursively', async () => {
      const base = dir();
      await d.putContent(`${base}/keep`, 'x');
      await d.putContent(`${base}/tree/a`, 'x');
      await d.putContent(`${base}/tree/b/c`, 'x');
      await d.putContent(`${base}/treeish`, 'x');
      await d.delete(`${base}/tree`);
      await expect(d.stat(`${base}/tree/b/c`)).rejects.toBeInstanceOf(PathNotFoundError);
      await expect(d.stat(`${base}/tree`)).rejects.toBeInstanceOf(PathNotFoundError);
      // A sibling sharing the name as a prefix is not part of the tree.
      expect((await d.getContent(`${base}/treeish`)).toString()).toBe('x');
      await d.delete(`${base}/keep`);
      expect(await d.list(base)).toEqual([`${base}/treeish`]);
    });

    it('walks depth-first in lexical order and honours SkipDir', async () => {
      const base = dir();
      for (const p of ['a/1', 'a/2', 'b/skipped/x', 'b/z', 'c']) await d.putContent(`${base}/${p}`, p);
      const seen: string[] = [];
      await d.walk(base, (info) => {
        seen.push(`${info.path.slice(base.length + 1)}${info.isDir ? '/' : ''}`);
        if (info.path.endsWith('/skipped')) return SkipDir;
      });
      expect(seen).toEqual(['a/', 'a/1', 'a/2', 'b/', 'b/skipped/', 'b/z', 'c']);
      await expect(d.walk(`${base}/none`, () => {})).rejects.toBeInstanceOf(PathNotFoundError);
    });

    it('walks unordered over the same entries, parents first, honouring SkipDir', async () => {
      const base = dir();
      const files = Array.from({ length: 60 }, (_, i) => `d${i % 7}/e${i % 3}/f${i}`);
      await Promise.all([...files, 'skip/x/y'].map((p) => d.putContent(`${base}/${p}`, p)));
      // Several directories skipped, at different depths (a collection skips one per blob).
      const skip = ['skip', 'd1', 'd3/e2', 'd5/e0'];
      const seen: string[] = [];
      const listed: FileInfo[] = [];
      await d.walk(
        base,
        (info) => {
          const rel = info.path.slice(base.length + 1);
          const slash = rel.lastIndexOf('/');
          if (slash > 0) expect(seen).toContain(rel.slice(0, slash));
          seen.push(rel);
          if (!info.isDir) listed.push(info);
          if (skip.includes(rel)) return SkipDir;
        },
        { unordered: true },
      );
      // A flat listing's files come with their sizes and times, as stat gives them (the collector relies on it;
      // a listing may give a time finer than stat's whole seconds).
      if (d.flatListing) {
        for (const file of listed.slice(0, 5)) {
          const info = await d.stat(file.path);
          expect(file.size).toBe(info.size);
          expect(Math.abs(file.modTime.getTime() - info.modTime.getTime())).toBeLessThan(1000);
        }
      }
      const ordered: string[] = [];
      await d.walk(base, (info) => {
        const rel = info.path.slice(base.length + 1);
        if (!skip.some((s) => rel.startsWith(`${s}/`))) ordered.push(rel);
      });
      expect([...seen].sort()).toEqual([...ordered].sort());
    });

    it('rejects invalid paths on every operation', async () => {
      const bad = ['', 'relative/path', '/a/../b', '/a//b', '/a/', '/./a', '/a/..', '/a b', '/a\\b', '/a\0b'];
      for (const p of bad) {
        await expect(d.getContent(p), p).rejects.toBeInstanceOf(InvalidPathError);
        await expect(d.putContent(p, 'x'), p).rejects.toBeInstanceOf(InvalidPathError);
        await expect(d.reader(p, 0), p).rejects.toBeInstanceOf(InvalidPathError);
        await expect(d.writer(p, false), p).rejects.toBeInstanceOf(InvalidPathError);
        await expect(d.stat(p), p).rejects.toBeInstanceOf(InvalidPathError);
        await expect(d.list(p), p).rejects.toBeInstanceOf(InvalidPathError);
        await expect(d.delete(p), p).rejects.toBeInstanceOf(InvalidPathError);
        await expect(d.move(p, '/ok'), p).rejects.toBeInstanceOf(InvalidPathError);
        await expect(d.move('/ok', p), p).rejects.toBeInstanceOf(InvalidPathError);
        await expect(
          d.walk(p, () => {}),
          p,
        ).rejects.toBeInstanceOf(InvalidPathError);
      }
    });

    it('an unreachable backend rejects every operation with BackendUnavailableError', async (ctx) => {
      if (!options.unreachable) return ctx.skip();
      const gone = BaseDriver.wrap(options.unreachable());
      const p = '/unreachable/file';
      const operations: [string, () => Promise<unknown>][] = [
        ['getContent', () => gone.getContent(p)],
        ['putContent', () => gone.putContent(p, 'x')],
        ['reader', () => gone.reader(p, 0)],
        ['stat', () => gone.stat(p)],
        ['list', () => gone.list('/unreachable')],
        ['move', () => gone.move(p, `${p}2`)],
        ['delete', () => gone.delete(p)],
        ['walk', () => gone.walk('/unreachable', () => {})],
        [
          'writer',
          async () => {
            const w = await gone.writer(p, false);
            w.write('x');
            await w.commit();
          },
        ],
      ];
      for (const [op, run] of operations)
        await expect(run(), op).rejects.toBeInstanceOf(BackendUnavailableError);
    }, 120_000);

    it('keeps concurrent writers apart and concurrent puts whole', async () => {
      const base = dir();
      const contents = Array.from({ length: 8 }, () => randomBytes(512 * 1024));
      await Promise.all(
        contents.map(async (c, i) => {
          const w = await d.writer(`${base}/w${i}`, false);
          for (let off = 0; off < c.length; off += 65_536) w.write(c.subarray(off, off + 65_536));
          await w.commit();
        }),
      );
      for (const [i, c] of contents.entries())
        expect((await d.getContent(`${base}/w${i}`)).equals(c)).toBe(true);
      // Racing puts on one path: the survivor is one of the values, intact.
      await Promise.all(contents.map((c) => d.putContent(`${base}/same`, c)));
      const survivor = await d.getContent(`${base}/same`);
      expect(contents.some((c) => c.equals(survivor))).toBe(true);
    });

    const largeSize = options.largeFileSize ?? 1024 ** 3;
    it(
      `streams a ${largeSize >> 20} MiB file in and out without memory growth`,
      async () => {
        const p = `${dir()}/large`;
        const block = randomBytes(1024 * 1024);
        const rssBefore = process.memoryUsage().rss;
        let peak = rssBefore;
        const sampler = setInterval(() => {
          peak = Math.max(peak, process.memoryUsage().rss);
        }, 50);
        try {
          const inHash = createHash('sha256');
          const w = await d.writer(p, false);
          const source = repeatStream(block, largeSize);
          source.on('data', (chunk: Buffer) => inHash.update(chunk));
          await pipeline(source, w);
          await w.commit();
          expect((await d.stat(p)).size).toBe(largeSize);
          const outHash = createHash('sha256');
          await pipeline(await d.reader(p, 0), outHash);
          expect(outHash.digest('hex')).toBe(inHash.digest('hex'));
        } finally {
          clearInterval(sampler);
          await d.delete(p).catch(() => {});
        }
        // Streaming keeps a few buffers in flight; holding the file would cost 1 GiB.
        expect(peak - rssBefore).toBeLessThan(128 * 1024 * 1024);
      },
      options.largeFileTimeout ?? 300_000,
    );
  });
}
