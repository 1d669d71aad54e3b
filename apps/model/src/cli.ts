#!/usr/bin/env node
/**
 * `pnpm model`: runs charms on this machine as Juju would, state in $MODEL_DIR (default ./.model). Each unit
 * gets a directory (its machine) and its own 127.x.y.z address; hooks run the charm's real dispatch with real
 * hook tools on PATH. This file reads the command line; the work is in units.ts, relations.ts and status.ts.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { stringify } from 'yaml';
import { splitPair, takeFlag, typed, UsageError } from './args.js';
import { CHARM_NAMES, resolveCharm } from './charms.js';
import { installTools, runHook, settle } from './hooks.js';
import { stopProcessesUnder } from './processes.js';
import { departRelation, joinRelation, resolveEndpoints } from './relations.js';
import {
  charmActions,
  charmMeta,
  charmOptions,
  effectiveConfig,
  loadState,
  type OptionSpec,
  updateState,
} from './state.js';
import { showUnit, statusJson, statusTable } from './status.js';
import { addUnits, removeUnit, subordinatesOf } from './units.js';

const modelDir = resolve(process.env.MODEL_DIR ?? '.model');
const VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

const USAGE = `usage: model COMMAND ... (state in $MODEL_DIR, default ./.model)
  deploy CHARM [APP] [-n N] [--config k=v ...]   CHARM: a directory or ${CHARM_NAMES.join(', ')}
  config APP [k=v ... | KEY] [--reset k1,k2]
  run UNIT ACTION [k=v ...]
  relate APP[:ENDPOINT] APP[:ENDPOINT]           (integrate)
  unrelate APP[:ENDPOINT] APP[:ENDPOINT]         (remove-relation)
  add-unit APP [-n N]
  remove-unit UNIT ...
  hook UNIT HOOK                                 runs one hook, e.g. update-status (Juju's every 5 minutes)
  status [--format json]
  show-unit UNIT [--format json|yaml]
  destroy
  help | version`;

async function deploy(args: string[]) {
  const count = Number(takeFlag(args, '-n') ?? '1');
  const configs: string[] = [];
  for (let v = takeFlag(args, '--config'); v !== undefined; v = takeFlag(args, '--config')) configs.push(v);
  const [charmArg, appArg] = args;
  if (!charmArg) throw new UsageError('usage: model deploy CHARM [APP] [-n N] [--config k=v ...]');
  const charm = await resolveCharm(charmArg, modelDir);
  const meta = await charmMeta(charm);
  if (!meta.name) throw new UsageError(`${charmArg}: no metadata.yaml with a name`);
  const app = appArg ?? meta.name;
  await installTools(modelDir);
  const options = await charmOptions(charm);
  const config = Object.fromEntries(
    configs.map((c) => splitPair(c)).map(([k, v]) => [k, typed(k, v, options[k])]),
  );
  await updateState(modelDir, (state) => {
    if (state.applications[app]) throw new UsageError(`application "${app}" already exists`);
    state.applications[app] = {
      charm,
      config,
      units: [],
      nextUnit: 0,
      leaderData: {},
      ...(meta.subordinate && { subordinate: true }),
    };
    for (const endpoint of Object.keys(meta.peers ?? {}))
      state.relations.push({
        id: state.nextRelation++,
        endpoints: [
          { app, endpoint },
          { app, endpoint },
        ],
        data: {},
      });
  });
  // A subordinate has no units until it is related to a principal.
  const units = meta.subordinate ? [] : await addUnits(modelDir, app, count);
  console.log(`Deployed "${app}" from ${charm}${units.length ? ` (${units.join(', ')})` : ''}`);
}

async function config(args: string[]) {
  const [app, ...rest] = args;
  const state = await loadState(modelDir);
  const application = app ? state.applications[app] : undefined;
  if (!app || !application) throw new UsageError(`application "${app ?? ''}" not found`);
  const options = await charmOptions(application.charm);
  const reset = takeFlag(rest, '--reset');
  if (rest.length === 0 && !reset) {
    console.log(stringify(await effectiveConfig(application)).trim());
    return;
  }
  if (rest.length === 1 && !rest[0]?.includes('=') && !reset) {
    if (!((rest[0] as string) in options)) throw new UsageError(`unknown option "${rest[0]}"`);
    const value = (await effectiveConfig(application))[rest[0] as string];
    console.log(typeof value === 'string' ? value : JSON.stringify(value));
    return;
  }
  const values = rest
    .map(splitPair)
    .map(([k, v]) => [k, typed(k, v, (options as Record<string, OptionSpec>)[k])] as const);
  const units = await updateState(modelDir, (s) => {
    const target = s.applications[app];
    if (!target) throw new UsageError(`application "${app}" not found`);
    for (const key of reset?.split(',') ?? []) delete target.config[key];
    for (const [k, v] of values) target.config[k] = v;
    return target.units;
  });
  await Promise.all(units.map((unit) => runHook(modelDir, unit, { path: 'hooks/config-changed' })));
  await settle(modelDir);
}

/** Action parameters that name files (oci:PATH, docker-archive:PATH) are the caller's, made absolute here. */
const callersPath = (value: string) => {
  const m = /^(oci|oci-archive|docker-archive|dir):([^:]+)(:.*)?$/.exec(value);
  if (!m || isAbsolute(m[2] as string)) return value;
  return `${m[1]}:${resolve(m[2] as string)}${m[3] ?? ''}`;
};

async function run(args: string[]): Promise<number> {
  const [unit, name, ...pairs] = args;
  if (!unit || !name) throw new UsageError('usage: model run UNIT ACTION [k=v ...]');
  const state = await loadState(modelDir);
  const u = state.units[unit];
  if (!u) throw new UsageError(`unit "${unit}" not found`);
  const spec = (await charmActions(state.applications[u.app]?.charm as string))[name];
  if (!spec) throw new UsageError(`action "${name}" not defined for ${u.app}`);
  const params: Record<string, unknown> = Object.fromEntries(
    Object.entries(spec.params ?? {})
      .filter(([, p]) => p.default !== undefined)
      .map(([k, p]) => [k, p.default]),
  );
  for (const [k, v] of pairs.map(splitPair)) {
    if (!spec.params?.[k] && spec.additionalProperties === false)
      throw new UsageError(`action "${name}": unknown parameter "${k}"`);
    params[k] = typed(k, callersPath(v), spec.params?.[k] ?? { type: 'string' });
  }
  for (const required of spec.required ?? [])
    if (!pairs.some((p) => p.startsWith(`${required}=`)))
      throw new UsageError(`action "${name}": parameter "${required}" is required`);
  const id = randomUUID();
  await updateState(modelDir, (s) => {
    s.actions[id] = { unit, name, params, results: {}, status: 'running', log: [] };
  });
  await runHook(modelDir, unit, {
    path: `actions/${name}`,
    env: { JUJU_ACTION_NAME: name, JUJU_ACTION_UUID: id },
  });
  const action = await updateState(modelDir, (s) => {
    const a = s.actions[id];
    if (!a) throw new Error('action record lost');
    if (a.status === 'running') a.status = 'completed';
    return a;
  });
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

const relationKey = (e: { app: string; endpoint: string }[]) =>
  e
    .map((x) => `${x.app}:${x.endpoint}`)
    .sort()
    .join(' ');

async function relate(args: string[]) {
  const [a, b] = args;
  if (!a || !b) throw new UsageError('usage: model relate APP[:ENDPOINT] APP[:ENDPOINT]');
  const { endpoints, scope } = await resolveEndpoints(await loadState(modelDir), a, b);
  const state = await updateState(modelDir, (s) => {
    if (s.relations.some((r) => relationKey(r.endpoints) === relationKey(endpoints)))
      throw new UsageError(`relation ${relationKey(endpoints)} already exists`);
    s.relations.push({ id: s.nextRelation++, endpoints, data: {}, scope });
    return s;
  });
  const id = state.nextRelation - 1;
  const sub = endpoints.find((e) => state.applications[e.app]?.subordinate);
  const principal = endpoints.find((e) => e !== sub);
  if (scope === 'container' && sub && principal) {
    // Juju puts one subordinate unit on each principal unit's machine; adding them joins the relation.
    const hosts = (state.applications[principal.app]?.units ?? []).filter(
      (p) => !subordinatesOf(state, p).some((s) => state.units[s]?.app === sub.app),
    );
    await addUnits(modelDir, sub.app, 0, hosts);
  } else {
    await joinRelation(
      modelDir,
      id,
      endpoints.flatMap((e) => state.applications[e.app]?.units ?? []),
    );
  }
  await settle(modelDir);
}

async function unrelate(args: string[]) {
  const [a, b] = args;
  if (!a || !b) throw new UsageError('usage: model unrelate APP[:ENDPOINT] APP[:ENDPOINT]');
  const state = await loadState(modelDir);
  const { endpoints } = await resolveEndpoints(state, a, b);
  const relation = state.relations.find((r) => relationKey(r.endpoints) === relationKey(endpoints));
  if (!relation) throw new UsageError(`no relation between ${a} and ${b}`);
  const units = endpoints.flatMap((e) => state.applications[e.app]?.units ?? []);
  const first = endpoints[0].app;
  await departRelation(
    modelDir,
    relation.id,
    units.filter((u) => state.units[u]?.app === first),
    units,
  );
  await updateState(modelDir, (s) => {
    s.relations = s.relations.filter((r) => r.id !== relation.id);
  });
  // Subordinate units exist for their container relation alone: they go with it.
  if (relation.scope === 'container')
    for (const u of units) if (state.units[u]?.principal) await removeUnit(modelDir, u);
  await settle(modelDir);
}

/** Stops every unit and removes the model's directory, saying what went: each unit's machine holds its data. */
async function destroy() {
  const state = await loadState(modelDir);
  for (const unit of Object.keys(state.units))
    await runHook(modelDir, unit, { path: 'hooks/stop' }).catch(() => undefined);
  for (const unit of Object.values(state.units))
    if (!unit.principal) await stopProcessesUnder(`${unit.dir}/run`);
  await rm(modelDir, { recursive: true, force: true });
  const units = Object.keys(state.units);
  console.log(
    units.length
      ? `Destroyed the model in ${modelDir}: stopped ${units.join(', ')} and removed their machines' directories, every file on them (registry data in their filesystem storage included; object storage, S3 or Swift, is left as it is).`
      : `Destroyed the model in ${modelDir} (it had no units).`,
  );
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
      if (!args[0]) throw new UsageError('usage: model add-unit APP [-n N]');
      await addUnits(modelDir, args[0], count);
      return 0;
    }
    case 'remove-unit':
      if (args.length === 0) throw new UsageError('usage: model remove-unit UNIT ...');
      for (const unit of args) await removeUnit(modelDir, unit);
      return 0;
    case 'hook': {
      const [unit, hook] = args;
      if (!unit || !hook) throw new UsageError('usage: model hook UNIT HOOK');
      if (!(await loadState(modelDir)).units[unit]) throw new UsageError(`unit "${unit}" not found`);
      await runHook(modelDir, unit, { path: `hooks/${hook}` });
      await settle(modelDir);
      return 0;
    }
    case 'status': {
      const state = await loadState(modelDir);
      const format = takeFlag(args, '--format');
      console.log(format === 'json' ? JSON.stringify(await statusJson(state)) : statusTable(state));
      return 0;
    }
    case 'show-unit': {
      const format = takeFlag(args, '--format');
      if (!args[0]) throw new UsageError('usage: model show-unit UNIT [--format json|yaml]');
      console.log(await showUnit(await loadState(modelDir), args[0], format));
      return 0;
    }
    case 'destroy':
      await destroy();
      return 0;
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return 0;
    case 'version':
    case '--version':
      console.log(`model ${VERSION}`);
      return 0;
    default:
      throw new UsageError(command ? `unknown command "${command}"\n${USAGE}` : USAGE);
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
