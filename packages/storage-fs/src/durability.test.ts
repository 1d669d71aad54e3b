import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FilesystemDriver } from './driver.js';

// How often the driver synced a file (fdatasync), counted through the fs module it calls.
const synced = vi.hoisted(() => ({ calls: 0 }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  return {
    ...fs,
    fdatasync: (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
      synced.calls++;
      fs.fdatasync(fd, cb);
    },
  };
});

describe('what survives a crash of the machine', () => {
  let root: string;
  let driver: FilesystemDriver;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'regop-fs-sync-'));
    driver = new FilesystemDriver({ rootDirectory: root });
    synced.calls = 0;
  });
  afterEach(() => rm(root, { recursive: true }));

  it('syncs what putContent writes before it is renamed into place', async () => {
    await driver.putContent('/a/link', 'sha256:00');
    expect(synced.calls).toBe(1);
    expect(await readFile(join(root, 'a/link'), 'utf8')).toBe('sha256:00');
  });

  it('does not sync scratch content, which is still written whole and replaced', async () => {
    await driver.putContent('/up/startedat', 'first', { durable: false });
    await driver.putContent('/up/startedat', '2026-12-07T07:50:57Z', { durable: false });
    await driver.putContent('/up/data', '', { durable: false });
    expect(synced.calls).toBe(0);
    expect(await readFile(join(root, 'up/startedat'), 'utf8')).toBe('2026-12-07T07:50:57Z');
    expect(await readFile(join(root, 'up/data'), 'utf8')).toBe('');
    // Emptying scratch content in place leaves nothing of the old behind, and no temporary file.
    await driver.putContent('/up/startedat', '', { durable: false });
    expect(await driver.list('/up')).toEqual(['/up/data', '/up/startedat']);
    expect((await driver.stat('/up/startedat')).size).toBe(0);
  });

  it('syncs a writer on commit, not when it is only closed (an upload between two chunks)', async () => {
    const chunk = await driver.writer('/up/data', false);
    await new Promise<void>((resolve) => chunk.end(Buffer.alloc(1024), resolve));
    expect(synced.calls).toBe(0);

    // The next writer syncs the earlier chunk while it writes, and everything at its commit.
    const last = await driver.writer('/up/data', true);
    last.write(Buffer.alloc(1024));
    await last.commit();
    expect(synced.calls).toBe(2);
    expect((await driver.stat('/up/data')).size).toBe(2048);
  });

  it('starts syncing a large write while it goes on, and still syncs at the commit', async () => {
    const writer = await driver.writer('/big/data', false);
    for (let i = 0; i < 40; i++) writer.write(Buffer.alloc(1024 * 1024, i));
    await writer.commit();
    // At least one background sync (every 16 MiB written) besides the commit's own.
    expect(synced.calls).toBeGreaterThanOrEqual(2);
    const data = await readFile(join(root, 'big/data'));
    expect(data.length).toBe(40 * 1024 * 1024);
    expect(data[39 * 1024 * 1024]).toBe(39);
  });
});
