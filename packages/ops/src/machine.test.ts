import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Machine } from './machine.js';

describe('Machine.read', () => {
  let root: string;
  const machine = () => Machine.fromEnv({ REGOP_ROOT: root, REGOP_SERVICES: 'process' });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('answers undefined only for a file that does not exist; any other failure is an error', async () => {
    root = await mkdtemp(join(tmpdir(), 'machine-'));
    await mkdir(join(root, 'etc'), { recursive: true });
    await writeFile(join(root, 'etc/present'), 'yes');
    expect(await machine().read('/etc/present')).toBe('yes');
    expect(await machine().read('/etc/absent')).toBeUndefined();
    // A directory where the TLS key should be is not "no TLS".
    await mkdir(join(root, 'etc/key.pem'));
    await expect(machine().read('/etc/key.pem')).rejects.toMatchObject({ code: 'EISDIR' });
  });
});
