import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadState, type ModelState, relatedUnits, updateState } from './state.js';
import { showUnit } from './status.js';

const dirs: string[] = [];
const modelDir = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'regop-state-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

const unit = (app: string, address: string, principal?: string) => ({
  app,
  address,
  dir: `/machines/${principal ?? `${app}-${address}`}`,
  ...(principal && { principal }),
  status: { current: 'active', message: '' },
  ports: [],
});

describe('the model state', () => {
  it('loses no write when many processes update it at once (the lock)', async () => {
    const dir = await modelDir();
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        updateState(dir, async (s) => {
          await new Promise((r) => setTimeout(r, Math.random() * 5));
          s.pending.push([`app/${i}`, 0, 'other/0']);
        }),
      ),
    );
    expect((await loadState(dir)).pending).toHaveLength(40);
  });

  it('lists a container-scoped relation as the subordinate and its principal only, and never a departed unit', () => {
    const state: ModelState = {
      addressBase: [1, 1],
      nextAddress: 3,
      nextRelation: 2,
      applications: {},
      units: {
        'reg/0': unit('reg', '127.1.1.2'),
        'reg/1': unit('reg', '127.1.1.3'),
        'nrpe/0': unit('nrpe', '127.1.1.2', 'reg/0'),
        'nrpe/1': unit('nrpe', '127.1.1.3', 'reg/1'),
        'haproxy/0': unit('haproxy', '127.1.1.4'),
      },
      relations: [
        {
          id: 0,
          endpoints: [
            { app: 'reg', endpoint: 'nrpe-external-master' },
            { app: 'nrpe', endpoint: 'nrpe-external-master' },
          ],
          scope: 'container',
          data: {},
        },
        {
          id: 1,
          endpoints: [
            { app: 'reg', endpoint: 'website' },
            { app: 'haproxy', endpoint: 'reverseproxy' },
          ],
          data: {},
          departed: ['reg/1'],
        },
      ],
      actions: {},
      pending: [],
    };
    const [container, website] = state.relations as [ModelState['relations'][0], ModelState['relations'][0]];
    expect(relatedUnits(state, container, 'reg/0')).toEqual(['nrpe/0']);
    expect(relatedUnits(state, container, 'nrpe/1')).toEqual(['reg/1']);
    expect(relatedUnits(state, website, 'haproxy/0')).toEqual(['reg/0']);
    expect(relatedUnits(state, website, 'reg/1')).toEqual([]);
  });

  it('shows a unit as juju show-unit does', async () => {
    const state = (await loadState(await modelDir())) as ModelState;
    state.applications.reg = {
      charm: '/nowhere',
      config: {},
      units: ['reg/0'],
      nextUnit: 1,
      leader: 'reg/0',
      leaderData: {},
    };
    state.applications.haproxy = {
      charm: '/nowhere',
      config: {},
      units: ['haproxy/0'],
      nextUnit: 1,
      leaderData: {},
    };
    state.units['reg/0'] = unit('reg', '127.1.1.2');
    state.units['haproxy/0'] = unit('haproxy', '127.1.1.4');
    state.relations.push({
      id: 7,
      endpoints: [
        { app: 'reg', endpoint: 'website' },
        { app: 'haproxy', endpoint: 'reverseproxy' },
      ],
      data: {
        'reg/0': { port: '5000' },
        'haproxy/0': { 'private-address': '127.1.1.4' },
        haproxy: { x: '1' },
      },
    });
    const shown = JSON.parse(await showUnit(state, 'reg/0', 'json'));
    expect(shown['reg/0']).toMatchObject({
      leader: true,
      'relation-info': [
        {
          'relation-id': 7,
          endpoint: 'website',
          'related-endpoint': 'reverseproxy',
          'application-data': { x: '1' },
          'local-unit': { 'in-scope': true, data: { port: '5000' } },
          'related-units': { 'haproxy/0': { 'in-scope': true, data: { 'private-address': '127.1.1.4' } } },
        },
      ],
    });
    await expect(showUnit(state, 'reg/9', 'json')).rejects.toThrow('unit "reg/9" not found');
  });
});
