/**
 * Juju's hook tools for the local model: one program, called through a shim named after each tool
 * (`$MODEL_DIR/bin/config-get` ...). It reads and writes the model's state for the unit in JUJU_UNIT_NAME,
 * printing what the real tools print (JSON with --format=json).
 */
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  effectiveConfig,
  loadState,
  type ModelState,
  type RelationState,
  relatedUnits,
  updateState,
} from './state.js';

export const TOOLS = [
  'action-fail',
  'action-get',
  'action-log',
  'action-set',
  'close-port',
  'config-get',
  'is-leader',
  'juju-log',
  'leader-get',
  'leader-set',
  'network-get',
  'open-port',
  'opened-ports',
  'relation-get',
  'relation-ids',
  'relation-list',
  'relation-set',
  'status-get',
  'status-set',
  'unit-get',
] as const;

export class ToolError extends Error {}

function parseArgs(args: string[]) {
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '-r' || a === '--relation' || a === '-l' || a === '--log-level')
      flags.set(a.replace(/^-+/, '')[0] as string, args[++i] ?? '');
    else if (a.startsWith('--format=')) flags.set('format', a.slice(9));
    else if (a === '--format') flags.set('format', args[++i] ?? '');
    else if (a.startsWith('--')) flags.set(a.slice(2), true);
    else positional.push(a);
  }
  return { flags, positional };
}

const keyValues = (pairs: string[]) =>
  Object.fromEntries(
    pairs.map((p) => {
      const eq = p.indexOf('=');
      if (eq < 1) throw new ToolError(`expected key=value, got ${JSON.stringify(p)}`);
      return [p.slice(0, eq), p.slice(eq + 1)];
    }),
  );

/** Tools that write the model's state: they run under its lock. */
const WRITERS = new Set([
  'action-fail',
  'action-log',
  'action-set',
  'close-port',
  'leader-set',
  'open-port',
  'relation-set',
  'status-set',
]);

/** Runs one tool; returns what it prints. Exported for the model's own tests. */
export async function runTool(tool: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const modelDir = env.REGOP_MODEL_DIR;
  const unitName = env.JUJU_UNIT_NAME;
  if (!modelDir || !unitName) throw new ToolError('not in a hook context (REGOP_MODEL_DIR, JUJU_UNIT_NAME)');
  if (WRITERS.has(tool)) return updateState(modelDir, (state) => toolOn(state, tool, args, env, unitName));
  return toolOn(await loadState(modelDir), tool, args, env, unitName);
}

async function toolOn(
  state: ModelState,
  tool: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  unitName: string,
): Promise<string> {
  const unit = state.units[unitName];
  if (!unit) throw new ToolError(`no unit ${unitName}`);
  const app = state.applications[unit.app];
  if (!app) throw new ToolError(`no application ${unit.app}`);
  const { flags, positional } = parseArgs(args);
  const out = (value: unknown) =>
    flags.get('format') === 'json'
      ? JSON.stringify(value ?? null)
      : typeof value === 'object' && value !== null
        ? JSON.stringify(value)
        : String(value ?? '');
  const action = () => {
    const a = env.JUJU_ACTION_UUID ? state.actions[env.JUJU_ACTION_UUID] : undefined;
    if (!a) throw new ToolError(`${tool}: not running an action`);
    return a;
  };
  const relation = (): RelationState => {
    const ref = (flags.get('r') as string | undefined) ?? env.JUJU_RELATION_ID ?? '';
    const id = Number(ref.split(':').pop());
    const r = state.relations.find((x) => x.id === id);
    if (!r) throw new ToolError(`${tool}: no relation ${JSON.stringify(ref)}`);
    return r;
  };
  const remoteUnits = (r: RelationState) => relatedUnits(state, r, unitName);

  switch (tool) {
    case 'config-get': {
      const config = await effectiveConfig(app);
      return out(positional[0] ? config[positional[0]] : config);
    }
    case 'action-get': {
      const params = action().params;
      return out(positional[0] ? params[positional[0]] : params);
    }
    case 'action-set':
      Object.assign(action().results, keyValues(positional));
      return '';
    case 'action-fail': {
      const a = action();
      a.status = 'failed';
      a.message = positional.join(' ') || 'action failed without reason';
      return '';
    }
    case 'action-log':
      action().log.push(positional.join(' '));
      return '';
    case 'status-set':
      unit.status = { current: positional[0] ?? 'unknown', message: positional.slice(1).join(' ') };
      return '';
    case 'status-get':
      return out({ status: unit.status.current, message: unit.status.message });
    case 'is-leader':
      return out(app.leader === unitName);
    case 'leader-get':
      return out(positional[0] ? app.leaderData[positional[0]] : app.leaderData);
    case 'leader-set':
      if (app.leader !== unitName)
        throw new ToolError('leader-set: cannot write leadership settings: not the leader');
      for (const [k, v] of Object.entries(keyValues(positional))) {
        if (v === '') delete app.leaderData[k];
        else app.leaderData[k] = v;
      }
      return '';
    case 'open-port':
    case 'close-port': {
      const port = positional[0] ?? '';
      unit.ports = unit.ports.filter((p) => p !== port);
      if (tool === 'open-port') unit.ports.push(port);
      return '';
    }
    case 'opened-ports':
      return out(unit.ports);
    case 'unit-get':
      return out(unit.address);
    case 'network-get':
      return out({
        'bind-addresses': [
          { 'interface-name': 'lo', addresses: [{ value: unit.address, cidr: `${unit.address}/32` }] },
        ],
        'ingress-addresses': [unit.address],
        'egress-subnets': [`${unit.address}/32`],
      });
    case 'juju-log': {
      await mkdir(unit.dir, { recursive: true });
      await appendFile(
        join(unit.dir, 'juju.log'),
        `${new Date().toISOString()} ${flags.get('l') || 'INFO'} ${unitName}: ${positional.join(' ')}\n`,
      );
      return '';
    }
    case 'relation-ids': {
      const endpoint = positional[0] ?? '';
      return out(
        state.relations
          .filter((r) => r.endpoints.some((e) => e.app === unit.app && e.endpoint === endpoint))
          .map((r) => `${endpoint}:${r.id}`),
      );
    }
    case 'relation-list':
      return out(remoteUnits(relation()));
    case 'relation-get': {
      const r = relation();
      const [key, who] =
        positional.length >= 2 ? positional : ['-', positional[0] ?? env.JUJU_REMOTE_UNIT ?? ''];
      const bag =
        r.data[flags.has('app') && who?.includes('/') ? (who.split('/')[0] as string) : (who as string)] ??
        {};
      return out(key === '-' ? bag : bag[key as string]);
    }
    case 'relation-set': {
      const r = relation();
      const owner = flags.has('app') ? unit.app : unitName;
      if (flags.has('app') && app.leader !== unitName)
        throw new ToolError('relation-set --app: not the leader');
      const bag = { ...r.data[owner] };
      for (const [k, v] of Object.entries(keyValues(positional))) {
        if (v === '') delete bag[k];
        else bag[k] = v;
      }
      if (JSON.stringify(bag) !== JSON.stringify(r.data[owner] ?? {})) {
        r.data[owner] = bag;
        const writer = flags.has('app') ? unit.app : unitName;
        for (const remote of remoteUnits(r))
          if (!state.pending.some(([u, id, w]) => u === remote && id === r.id && w === writer))
            state.pending.push([remote, r.id, writer]);
      }
      return '';
    }
    default:
      throw new ToolError(`unknown hook tool ${tool}`);
  }
}
