#!/usr/bin/env node
/**
 * `pnpm model`: runs charms on this machine as Juju would, state in $MODEL_DIR (default ./.model). Each unit
 * gets a directory (its machine) and its own 127.x.y.z address; hooks run the charm's real dispatch with real
 * hook tools on PATH.
 */
import { randomUUID } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { installTools, runHook, settle } from './hooks.js';
import {
  charmActions,
  charmMeta,
  charmOptions,
  effectiveConfig,
  loadState,
  type ModelState,
  type OptionSpec,
  saveState,
} from './state.js';

class UsageError extends Error {}

const modelDir = resolve(process.env.MODEL_DIR ?? '.model');

/** A `key=value` argument typed by its option's declared type, as juju config does. */
function typed(name: string, value: string, spec: { type?: string } | undefined): unknown {
  if (!spec) throw new UsageError(`unknown option "${name}"`);
  switch (spec.type) {
    case 'boolean':
      if (value !== 'true' && value !== 'false')
        throw new UsageError(`option "${name}" expected boolean, got "${value}"`);
      return value === 'true';
    case 'int':
    case 'integer':
      if (!/^-?\d+$/.test(value)) throw new UsageError(`option "${name}" expected int, got "${value}"`);
      return Number(value);
    case 'float':
    case 'number':
      if (Number.isNaN(Number(value)))
        throw new UsageError(`option "${name}" expected number, got "${value}"`);
      return Number(value);
    default:
      return value;
  }
}

const splitPair = (pair: string) => {
  const eq = pair.indexOf('=');
  if (eq < 1) throw new UsageError(`expected key=value, got "${pair}"`);
  return [pair.slice(0, eq), pair.slice(eq + 1)] as const;
};

function takeFlag(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  if (i < 0) return undefined;
  const [, value] = args.splice(i, 2);
  if (value === undefined) throw new UsageError(`${flag} needs a value`);
  return value;
}

/** The n-th unit's address: 127.x.y.z, z from 2 (at most 250 units a model). */
function address(state: ModelState): string {
  const n = state.nextAddress++;
  if (n > 250) throw new UsageError('a local model holds at most 250 units');
  return `127.${state.addressBase[0]}.${state.addressBase[1]}.${n + 1}`;
}

const relationEnv = (endpoint: string, id: number, remote?: string) => ({
  JUJU_RELATION: endpoint,
  JUJU_RELATION_ID: `${endpoint}:${id}`,
  ...(remote && { JUJU_REMOTE_UNIT: remote, JUJU_REMOTE_APP: remote.split('/')[0] as string }),
});

/** Units of the other side of a relation (the other units of the application, for peers). */
function remotes(state: ModelState, relationId: number, unit: string): string[] {
  const r = state.relations.find((x) => x.id === relationId);
  const app = state.units[unit]?.app;
  if (!r || !app) return [];
  const apps = r.endpoints.map((e) => e.app);
  const peer = apps.every((a) => a === app);
  return Object.keys(state.units).filter((u) => {
    const other = state.units[u]?.app as string;
    return peer ? other === app && u !== unit : other !== app && apps.includes(other);
  });
}

const endpointOf = (state: ModelState, relationId: number, unit: string) =>
  state.relations.find((r) => r.id === relationId)?.endpoints.find((e) => e.app === state.units[unit]?.app)
    ?.endpoint as string;

/** relation-created on `units`, then joined and changed both ways between them and their remote units. */
async function joinRelation(id: number, units: string[]) {
  let state = await loadState(modelDir);
  for (const unit of units)
    state = await runHook(modelDir, unit, {
      path: `hooks/${endpointOf(state, id, unit)}-relation-created`,
      env: relationEnv(endpointOf(state, id, unit), id),
    });
  const done = new Set<string>();
  for (const unit of units) {
    for (const remote of remotes(state, id, unit)) {
      for (const [a, b] of [
        [unit, remote],
        [remote, unit],
      ] as const) {
        if (done.has(`${a}>${b}`)) continue;
        done.add(`${a}>${b}`);
        const ep = endpointOf(state, id, a);
        state = await runHook(modelDir, a, {
          path: `hooks/${ep}-relation-joined`,
          env: relationEnv(ep, id, b),
        });
        state = await runHook(modelDir, a, {
          path: `hooks/${ep}-relation-changed`,
          env: relationEnv(ep, id, b),
        });
      }
    }
  }
}

async function addUnits(app: string, count: number): Promise<string[]> {
  const state = await loadState(modelDir);
  const application = state.applications[app];
  if (!application) throw new UsageError(`application "${app}" not found`);
  const added: string[] = [];
  for (let i = 0; i < count; i++) {
    const n = application.nextUnit++;
    const name = `${app}/${n}`;
    state.units[name] = {
      app,
      address: address(state),
      dir: join(modelDir, 'units', `${app}-${n}`),
      status: { current: 'waiting', message: 'agent initialising' },
      ports: [],
    };
    application.units.push(name);
    added.push(name);
  }
  application.leader ??= added[0];
  await saveState(modelDir, state);
  for (const unit of added) {
    await runHook(modelDir, unit, { path: 'hooks/install' });
    if ((await loadState(modelDir)).applications[app]?.leader === unit)
      await runHook(modelDir, unit, { path: 'hooks/leader-elected' });
    await runHook(modelDir, unit, { path: 'hooks/config-changed' });
    await runHook(modelDir, unit, { path: 'hooks/start' });
  }
  for (const r of (await loadState(modelDir)).relations.filter((x) => x.endpoints.some((e) => e.app === app)))
    await joinRelation(r.id, added);
  await settle(modelDir);
  return added;
}

async function deploy(args: string[]) {
  const count = Number(takeFlag(args, '-n') ?? '1');
  const configs: string[] = [];
  for (let v = takeFlag(args, '--config'); v !== undefined; v = takeFlag(args, '--config')) configs.push(v);
  const [charmArg, appArg] = args;
  if (!charmArg) throw new UsageError('usage: model deploy CHARM [APP] [-n N] [--config k=v ...]');
  const charm = resolve(charmArg);
  const meta = await charmMeta(charm);
  if (!meta.name) throw new UsageError(`${charmArg}: no metadata.yaml with a name`);
  const app = appArg ?? meta.name;
  await installTools(modelDir);
  const state = await loadState(modelDir);
  if (state.applications[app]) throw new UsageError(`application "${app}" already exists`);
  const options = await charmOptions(charm);
  const config = Object.fromEntries(
    configs.map((c) => splitPair(c)).map(([k, v]) => [k, typed(k, v, options[k])]),
  );
  state.applications[app] = { charm, config, units: [], nextUnit: 0, leaderData: {} };
  for (const endpoint of Object.keys(meta.peers ?? {}))
    state.relations.push({
      id: state.nextRelation++,
      endpoints: [
        { app, endpoint },
        { app, endpoint },
      ],
      data: {},
    });
  await saveState(modelDir, state);
  const units = await addUnits(app, count);
  console.log(`Deployed "${app}" from ${charm} (${units.join(', ')})`);
}

async function config(args: string[]) {
  const [app, ...rest] = args;
  const state = await loadState(modelDir);
  const application = app && state.applications[app];
  if (!application) throw new UsageError(`application "${app}" not found`);
  const options = await charmOptions(application.charm);
  const reset = takeFlag(rest, '--reset');
  if (rest.length === 0 && !reset) {
    console.log(stringify(await effectiveConfig(application)).trim());
    return;
  }
  if (rest.length === 1 && !rest[0]?.includes('=') && !reset) {
    const value = (await effectiveConfig(application))[rest[0] as string];
    if (!((rest[0] as string) in options)) throw new UsageError(`unknown option "${rest[0]}"`);
    console.log(typeof value === 'string' ? value : JSON.stringify(value));
    return;
  }
  for (const key of reset?.split(',') ?? []) delete application.config[key];
  for (const [k, v] of rest.map(splitPair))
    application.config[k] = typed(k, v, (options as Record<string, OptionSpec>)[k]);
  await saveState(modelDir, state);
  for (const unit of application.units) await runHook(modelDir, unit, { path: 'hooks/config-changed' });
  await settle(modelDir);
}

async function run(args: string[]): Promise<number> {
  const [unit, name, ...pairs] = args;
  const state = await loadState(modelDir);
  const u = unit && state.units[unit];
  if (!u || !name) throw new UsageError('usage: model run UNIT ACTION [k=v ...]');
  const application = state.applications[u.app];
  const spec = (await charmActions(application?.charm as string))[name];
  if (!spec) throw new UsageError(`action "${name}" not defined for ${u.app}`);
  const params: Record<string, unknown> = Object.fromEntries(
    Object.entries(spec.params ?? {})
      .filter(([, p]) => p.default !== undefined)
      .map(([k, p]) => [k, p.default]),
  );
  for (const [k, v] of pairs.map(splitPair)) {
    if (!spec.params?.[k] && spec.additionalProperties === false)
      throw new UsageError(`action "${name}": unknown parameter "${k}"`);
    params[k] = typed(k, v, spec.params?.[k] ?? { type: 'string' });
  }
  for (const required of spec.required ?? [])
    if (!pairs.some((p) => p.startsWith(`${required}=`)))
      throw new UsageError(`action "${name}": parameter "${required}" is required`);
  const id = randomUUID();
  state.actions[id] = { unit, name, params, results: {}, status: 'running', log: [] };
  await saveState(modelDir, state);
  const after = await runHook(modelDir, unit, {
    path: `actions/${name}`,
    env: { JUJU_ACTION_NAME: name, JUJU_ACTION_UUID: id },
  });
  const action = after.actions[id];
  if (!action) throw new Error('action record lost');
  if (action.status === 'running') action.status = 'completed';
  await saveState(modelDir, after);
  await settle(modelDir);
  console.log(
    stringify({
      [unit]: {
        id,
        status: action.status,
        ...(action.message && { message: action.message }),
        results: action.results,
        ...(action.log.length && { log: action.log }),
        unit,
      },
    }).trim(),
  );
  return action.status === 'completed' ? 0 : 1;
}

/** `APP[:ENDPOINT]` pairs resolved to endpoints whose interfaces match, one provider and one requirer. */
async function resolveEndpoints(state: ModelState, a: string, b: string) {
  const side = async (arg: string) => {
    const [app, endpoint] = arg.split(':') as [string, string | undefined];
    const application = state.applications[app];
    if (!application) throw new UsageError(`application "${app}" not found`);
    const meta = await charmMeta(application.charm);
    const all = [
      ...Object.entries(meta.provides ?? {}).map(([n, e]) => ({
        app,
        endpoint: n,
        interface: e.interface,
        role: 'provides',
      })),
      ...Object.entries(meta.requires ?? {}).map(([n, e]) => ({
        app,
        endpoint: n,
        interface: e.interface,
        role: 'requires',
      })),
    ];
    return endpoint ? all.filter((e) => e.endpoint === endpoint) : all;
  };
  const [left, right] = [await side(a), await side(b)];
  const matches = left.flatMap((l) =>
    right.filter((r) => r.interface === l.interface && r.role !== l.role).map((r) => [l, r] as const),
  );
  if (matches.length !== 1)
    throw new UsageError(
      matches.length
        ? `ambiguous relation ${a} ${b}: name the endpoints`
        : `no matching endpoints between ${a} and ${b}`,
    );
  return (matches[0] as readonly [{ app: string; endpoint: string }, { app: string; endpoint: string }]).map(
    (e) => ({ app: e.app, endpoint: e.endpoint }),
  );
}

async function relate(args: string[]) {
  const [a, b] = args;
  if (!a || !b) throw new UsageError('usage: model relate APP[:ENDPOINT] APP[:ENDPOINT]');
  const state = await loadState(modelDir);
  const endpoints = await resolveEndpoints(state, a, b);
  const key = (e: { app: string; endpoint: string }[]) =>
    e
      .map((x) => `${x.app}:${x.endpoint}`)
      .sort()
      .join(' ');
  if (state.relations.some((r) => key(r.endpoints) === key(endpoints)))
    throw new UsageError(`relation ${key(endpoints)} already exists`);
  const id = state.nextRelation++;
  state.relations.push({ id, endpoints, data: {} });
  await saveState(modelDir, state);
  const units = endpoints.flatMap((e) => state.applications[e.app]?.units ?? []);
  await joinRelation(id, units);
  await settle(modelDir);
}

/** relation-departed both ways for `leaving` units, then relation-broken on them (all units when the relation ends). */
async function departRelation(id: number, leaving: string[], broken: string[]) {
  let state = await loadState(modelDir);
  for (const unit of leaving)
    for (const remote of remotes(state, id, unit)) {
      for (const [a, b] of [
        [remote, unit],
        [unit, remote],
      ] as const) {
        const ep = endpointOf(state, id, a);
        state = await runHook(modelDir, a, {
          path: `hooks/${ep}-relation-departed`,
          env: relationEnv(ep, id, b),
        });
      }
    }
  for (const unit of broken) {
    const ep = endpointOf(state, id, unit);
    state = await runHook(modelDir, unit, { path: `hooks/${ep}-relation-broken`, env: relationEnv(ep, id) });
  }
}

async function unrelate(args: string[]) {
  const [a, b] = args;
  if (!a || !b) throw new UsageError('usage: model unrelate APP[:ENDPOINT] APP[:ENDPOINT]');
  let state = await loadState(modelDir);
  const endpoints = await resolveEndpoints(state, a, b);
  const relation = state.relations.find((r) =>
    endpoints.every((e) => r.endpoints.some((x) => x.app === e.app && x.endpoint === e.endpoint)),
  );
  if (!relation) throw new UsageError(`no relation between ${a} and ${b}`);
  const units = endpoints.flatMap((e) => state.applications[e.app]?.units ?? []);
  await departRelation(
    relation.id,
    units.filter((u) => state.units[u]?.app === endpoints[0]?.app),
    units,
  );
  state = await loadState(modelDir);
  state.relations = state.relations.filter((r) => r.id !== relation.id);
  for (const [u] of Object.entries(relation.data)) delete relation.data[u];
  await saveState(modelDir, state);
  await settle(modelDir);
}

/** Stops, by PID, every process a unit's charm left running (pidfiles under the unit's run/). */
async function killUnitProcesses(dir: string) {
  const pidfiles = await readdir(join(dir, 'run'), { recursive: true }).catch(() => [] as string[]);
  for (const file of pidfiles.filter((f) => f.endsWith('.pid'))) {
    const pid = Number.parseInt(await readFile(join(dir, 'run', file), 'utf8').catch(() => ''), 10);
    if (!Number.isFinite(pid)) continue;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      continue;
    }
    for (let i = 0; i < 100; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        break;
      }
      await sleep(100);
    }
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
}

async function removeUnit(unit: string) {
  let state = await loadState(modelDir);
  const u = state.units[unit];
  if (!u) throw new UsageError(`unit "${unit}" not found`);
  for (const r of state.relations.filter((x) => x.endpoints.some((e) => e.app === u.app)))
    await departRelation(r.id, [unit], [unit]);
  await runHook(modelDir, unit, { path: 'hooks/stop' });
  await runHook(modelDir, unit, { path: 'hooks/remove' });
  await killUnitProcesses(u.dir);
  state = await loadState(modelDir);
  const application = state.applications[u.app];
  delete state.units[unit];
  for (const r of state.relations) delete r.data[unit];
  if (application) {
    application.units = application.units.filter((x) => x !== unit);
    if (application.leader === unit) application.leader = application.units[0];
  }
  await saveState(modelDir, state);
  if (application?.leader && application.leader !== unit)
    await runHook(modelDir, application.leader, { path: 'hooks/leader-elected' });
  await settle(modelDir);
}

async function status(args: string[]) {
  const state = await loadState(modelDir);
  const json = {
    model: { name: 'local', type: 'iaas' },
    applications: Object.fromEntries(
      await Promise.all(
        Object.entries(state.applications).map(async ([name, app]) => [
          name,
          {
            charm: (await charmMeta(app.charm)).name,
            'charm-origin': 'local',
            units: Object.fromEntries(
              app.units.map((u) => {
                const unit = state.units[u];
                return [
                  u,
                  {
                    'workload-status': { current: unit?.status.current, message: unit?.status.message },
                    'juju-status': { current: 'idle' },
                    leader: app.leader === u,
                    'public-address': unit?.address,
                    'open-ports': unit?.ports,
                  },
                ];
              }),
            ),
            relations: Object.fromEntries(
              state.relations
                .filter((r) => r.endpoints.some((e) => e.app === name))
                .map((r) => {
                  const own = r.endpoints.find((e) => e.app === name);
                  return [own?.endpoint, r.endpoints.filter((e) => e !== own).map((e) => e.app)];
                }),
            ),
          },
        ]),
      ),
    ),
  };
  const format = takeFlag(args, '--format');
  if (format === 'json') {
    console.log(JSON.stringify(json));
    return;
  }
  console.log('Unit                          Workload     Address        Ports        Message');
  for (const [name, unit] of Object.entries(state.units))
    console.log(
      `${(name + (state.applications[unit.app]?.leader === name ? '*' : '')).padEnd(30)}${unit.status.current.padEnd(13)}${unit.address.padEnd(15)}${unit.ports.join(',').padEnd(13)}${unit.status.message}`,
    );
}

async function destroy() {
  const state = await loadState(modelDir);
  for (const unit of Object.keys(state.units))
    await runHook(modelDir, unit, { path: 'hooks/stop' }).catch(() => undefined);
  for (const unit of Object.values(state.units)) await killUnitProcesses(unit.dir);
  await rm(modelDir, { recursive: true, force: true });
}

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  switch (command) {
    case 'deploy':
      await deploy(args);
      return 0;
    case 'config':
      await config(args);
      return 0;
    case 'run':
      return run(args);
    case 'relate':
    case 'integrate':
      await relate(args);
      return 0;
    case 'unrelate':
    case 'remove-relation':
      await unrelate(args);
      return 0;
    case 'add-unit': {
      const count = Number(takeFlag(args, '-n') ?? '1');
      await addUnits(args[0] ?? '', count);
      return 0;
    }
    case 'remove-unit':
      for (const unit of args) await removeUnit(unit);
      return 0;
    case 'status':
      await status(args);
      return 0;
    case 'destroy':
      await destroy();
      return 0;
    default:
      throw new UsageError(
        'usage: model deploy|config|run|relate|unrelate|add-unit|remove-unit|status|destroy ... (state in $MODEL_DIR, default ./.model)',
      );
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`ERROR ${(err as Error).message}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
