import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, parseConfigText } from '@regop/registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDriver, DRIVERS } from './drivers.js';

const storage = (yaml: string) => parseConfigText(`version: 0.1\nstorage:\n${yaml}`).storage;

describe('the table of storage drivers', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'regop-drivers-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('names each driver once', () => {
    const names = DRIVERS.map((d) => d.name);
    expect(names).toEqual(['filesystem', 'inmemory', 's3', 'swift']);
    expect(new Set(names).size).toBe(names.length);
  });

  it('makes the driver the config names, behind the base wrapper', async () => {
    const fs = await createDriver(storage(`  filesystem:\n    rootdirectory: ${dir}/store\n`), {
      readOnly: false,
    });
    expect(fs.name).toBe('filesystem');
    await fs.putContent('/a', 'b');
    expect((await fs.getContent('/a')).toString()).toBe('b');
    expect((await createDriver(storage('  inmemory:\n'), { readOnly: false })).name).toBe('inmemory');
  });

  it('refuses a driver it does not have, and bad parameters, naming the key', async () => {
    const refused = (yaml: string) => createDriver(storage(yaml), { readOnly: false });
    await expect(refused('  gcs:\n    bucket: b\n')).rejects.toThrow(
      new ConfigError(
        'storage.gcs: this registry does not provide the gcs driver (use filesystem, inmemory, s3, swift)',
      ),
    );
    await expect(refused('  filesystem:\n    rootdir: /x\n')).rejects.toThrow(
      'storage.filesystem.rootdir: unknown key',
    );
    await expect(refused('  s3:\n    bucket: b\n')).rejects.toThrow(/storage\.s3\.region/);
  });

  it('checks a filesystem root takes writes, unless the registry only reads', async () => {
    const file = join(dir, 'a-file');
    await writeFile(file, '');
    const section = storage(`  filesystem:\n    rootdirectory: ${file}/data\n`);
    await expect(createDriver(section, { readOnly: false })).rejects.toThrow(
      `storage.filesystem.rootdirectory: cannot write to ${file}/data (ENOTDIR)`,
    );
    expect((await createDriver(section, { readOnly: true })).name).toBe('filesystem');
  });
});
