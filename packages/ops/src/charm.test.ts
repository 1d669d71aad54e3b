import { describe, expect, it } from 'vitest';
import { ActionError, dispatch, eventFromEnv } from './charm.js';
import { MemoryBackend } from './harness.js';

describe('events from the dispatch environment', () => {
  it('reads hooks, relation hooks and actions', () => {
    expect(eventFromEnv({ JUJU_DISPATCH_PATH: 'hooks/config-changed' })).toEqual({
      kind: 'hook',
      name: 'config-changed',
    });
    expect(
      eventFromEnv({
        JUJU_DISPATCH_PATH: 'hooks/cert-provider-relation-changed',
        JUJU_RELATION_ID: 'cert-provider:4',
        JUJU_REMOTE_UNIT: 'easyrsa/0',
        JUJU_REMOTE_APP: 'easyrsa',
      }),
    ).toEqual({
      kind: 'hook',
      name: 'cert-provider-relation-changed',
      relation: {
        endpoint: 'cert-provider',
        id: 'cert-provider:4',
        remoteUnit: 'easyrsa/0',
        remoteApp: 'easyrsa',
      },
    });
    expect(eventFromEnv({ JUJU_DISPATCH_PATH: 'actions/push' })).toEqual({ kind: 'action', name: 'push' });
    expect(() => eventFromEnv({})).toThrow(/unknown dispatch path/);
  });
});

describe('dispatch', () => {
  const env = (path: string) => ({
    JUJU_DISPATCH_PATH: path,
    JUJU_UNIT_NAME: 'app/0',
    JUJU_CHARM_DIR: '/charm',
  });

  it('gives the charm the unit, application and event', async () => {
    const backend = new MemoryBackend('app/0');
    let seen: unknown;
    expect(
      await dispatch(
        async (ctx) => {
          seen = { unit: ctx.unitName, app: ctx.appName, dir: ctx.charmDir, event: ctx.event };
        },
        env('hooks/install'),
        backend,
      ),
    ).toBe(0);
    expect(seen).toEqual({
      unit: 'app/0',
      app: 'app',
      dir: '/charm',
      event: { kind: 'hook', name: 'install' },
    });
  });

  it('fails an action with its message on ActionError, and still exits 0 as Juju expects', async () => {
    const backend = new MemoryBackend('app/0');
    const code = await dispatch(
      async () => {
        throw new ActionError('image is required');
      },
      env('actions/push'),
      backend,
    );
    expect(code).toBe(0);
    expect(backend.action.failed).toBe('image is required');
  });

  it('logs an unexpected error and exits 1, putting a hook in error', async () => {
    const backend = new MemoryBackend('app/0');
    const code = await dispatch(
      async () => {
        throw new Error('disk full');
      },
      env('hooks/config-changed'),
      backend,
    );
    expect(code).toBe(1);
    expect(backend.logs.at(-1)).toMatchObject({
      level: 'ERROR',
      message: expect.stringContaining('disk full'),
    });
  });
});
