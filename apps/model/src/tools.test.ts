import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadState, saveState } from './state.js';
import { shim, toolServer } from './tool-server.js';
import { runTool } from './tools.js';

const CHARM = join(import.meta.dirname, '../../../charm');

describe('the local model hook tools', () => {
  let dir: string;
  const tool = (unit: string, name: string, args: string[] = [], extra: NodeJS.ProcessEnv = {}) =>
    runTool(name, args, { REGOP_MODEL_DIR: dir, JUJU_UNIT_NAME: unit, ...extra });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'regop-tools-'));
    const state = await loadState(dir);
    state.applications.reg = {
      charm: CHARM,
      config: { 'registry-port': 6000 },
      units: ['reg/0', 'reg/1'],
      nextUnit: 2,
      leader: 'reg/0',
      leaderData: {},
    };
    for (const [i, unit] of ['reg/0', 'reg/1'].entries())
      state.units[unit] = {
        app: 'reg',
        address: `127.9.9.${i + 2}`,
        dir: join(dir, `u${i}`),
        status: { current: 'waiting', message: '' },
        ports: [],
      };
    state.relations.push({
      id: 0,
      endpoints: [
        { app: 'reg', endpoint: 'peer' },
        { app: 'reg', endpoint: 'peer' },
      ],
      data: {},
    });
    state.actions.a1 = {
      unit: 'reg/0',
      name: 'images',
      params: { options: '' },
      results: {},
      status: 'running',
      log: [],
    };
    await saveState(dir, state);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('config-get gives every option, set values over the charm defaults', async () => {
    const config = JSON.parse(await tool('reg/0', 'config-get', ['--format=json'])) as Record<
      string,
      unknown
    >;
    expect(config).toMatchObject({ 'registry-port': 6000, 'log-level': 'info', 'storage-s3-region': null });
    expect(await tool('reg/0', 'config-get', ['registry-name'])).toBe('registry');
  });

  it('status, ports and addresses are per unit', async () => {
    await tool('reg/1', 'status-set', ['active', 'Ready', 'at', 'x']);
    await tool('reg/1', 'open-port', ['6000/tcp']);
    const state = await loadState(dir);
    expect(state.units['reg/1']).toMatchObject({
      status: { current: 'active', message: 'Ready at x' },
      ports: ['6000/tcp'],
    });
    expect(await tool('reg/1', 'unit-get', ['private-address'])).toBe('127.9.9.3');
    expect(
      JSON.parse(await tool('reg/0', 'network-get', ['juju-info', '--format=json']))['bind-addresses'][0]
        .addresses[0].value,
    ).toBe('127.9.9.2');
  });

  it('leadership: only the leader writes, everyone reads', async () => {
    expect(await tool('reg/0', 'is-leader', ['--format=json'])).toBe('true');
    await tool('reg/0', 'leader-set', ['http-secret=abc']);
    expect(await tool('reg/1', 'leader-get', ['http-secret'])).toBe('abc');
    await expect(tool('reg/1', 'leader-set', ['x=y'])).rejects.toThrow(/not the leader/);
  });

  it('relation settings: peers see each other, and a change owes the others relation-changed', async () => {
    expect(JSON.parse(await tool('reg/0', 'relation-ids', ['peer', '--format=json']))).toEqual(['peer:0']);
    expect(JSON.parse(await tool('reg/0', 'relation-list', ['-r', 'peer:0', '--format=json']))).toEqual([
      'reg/1',
    ]);
    await tool('reg/0', 'relation-set', ['-r', 'peer:0', 'address=127.9.9.2']);
    expect(
      JSON.parse(await tool('reg/1', 'relation-get', ['-r', 'peer:0', '-', 'reg/0', '--format=json'])),
    ).toEqual({
      address: '127.9.9.2',
    });
    expect((await loadState(dir)).pending).toEqual([['reg/1', 0, 'reg/0']]);
    // Setting the same value again owes nothing.
    await tool('reg/0', 'relation-set', ['-r', 'peer:0', 'address=127.9.9.2']);
    expect((await loadState(dir)).pending).toHaveLength(1);
  });

  it('actions: parameters, results, logs and failure', async () => {
    const env = { JUJU_ACTION_UUID: 'a1' };
    expect(JSON.parse(await tool('reg/0', 'action-get', ['--format=json'], env))).toEqual({ options: '' });
    await tool('reg/0', 'action-set', ['output=table'], env);
    await tool('reg/0', 'action-log', ['working'], env);
    await tool('reg/0', 'action-fail', ['no such image'], env);
    expect((await loadState(dir)).actions.a1).toMatchObject({
      results: { output: 'table' },
      log: ['working'],
      status: 'failed',
      message: 'no such image',
    });
    await expect(tool('reg/0', 'action-get')).rejects.toThrow(/not running an action/);
  });

  it('the shims reach the model over loopback: multi-line values, errors and exit codes intact', async () => {
    const { port, token } = await toolServer();
    const bin = join(dir, 'bin');
    await mkdir(bin, { recursive: true });
    for (const name of ['relation-set', 'relation-get', 'is-leader'])
      await writeFile(join(bin, name), shim(name, process.execPath, '/nonexistent'), { mode: 0o755 });
    const env = {
      REGOP_MODEL_DIR: dir,
      JUJU_UNIT_NAME: 'reg/0',
      JUJU_RELATION_ID: 'peer:0',
      REGOP_TOOLS_PORT: String(port),
      REGOP_TOOLS_TOKEN: token,
    };
    const call = (name: string, ...args: string[]) =>
      execa(join(bin, name), args, { env, reject: false, extendEnv: false });
    expect((await call('is-leader', '--format=json')).stdout).toBe('true');
    const pem = '-----BEGIN X-----\nline two with = and %s\n-----END X-----';
    expect((await call('relation-set', `ca=${pem}`)).exitCode).toBe(0);
    expect((await call('relation-get', 'ca', 'reg/0')).stdout).toBe(pem);
    const bad = await call('relation-set', 'no-equals-sign');
    expect([bad.exitCode, bad.stderr]).toEqual([2, 'ERROR expected key=value, got "no-equals-sign"']);
    const stranger = await execa(join(bin, 'is-leader'), [], {
      env: { ...env, REGOP_TOOLS_TOKEN: 'wrong' },
      reject: false,
      extendEnv: false,
    });
    expect(stranger.exitCode).toBe(1);
  });
});
