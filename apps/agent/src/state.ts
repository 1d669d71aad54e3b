/**
 * The unit's state, gathered before anything is done (as haproxy-operator's CharmState.from_charm): the config,
 * the unit's facts, what it remembers between hooks, the TLS files it should serve and each relation's state.
 * Reading only: every write is apply's.
 */
import { hostname } from 'node:os';
import type { CharmContext, Machine } from '@regop/ops';
import { type CharmConfig, type OptionProblem, parseCharmConfig } from './options.js';
import { type RelationStates, relationEntries } from './relations/index.js';
import type { UnitFacts } from './relations/relation.js';
import { remoteUnits } from './relations/remote.js';
import { PATHS } from './render.js';
import { checkTlsBlobs, type TlsFiles } from './tls.js';

/** What the agent remembers between hooks. */
export interface AgentState {
  /** The operator stopped the service (stop action): hooks leave it stopped until the start action. */
  stopped?: boolean;
  /** Where the TLS files came from (the tls-*-blob options or the cert-provider relation): the agent removes them when that source goes. */
  tlsSource?: 'blobs' | 'provider';
  /** The port last opened. */
  port?: number;
}

export async function readState(machine: Machine): Promise<AgentState> {
  const state = JSON.parse((await machine.read(PATHS.state)) ?? '{}') as AgentState & {
    tlsFromBlobs?: boolean;
  };
  // Written by the charm before relations: its blob files are still the blobs' to remove.
  if (state.tlsFromBlobs) state.tlsSource = 'blobs';
  delete state.tlsFromBlobs;
  return state;
}

export async function writeState(machine: Machine, state: AgentState): Promise<void> {
  await machine.write(PATHS.state, `${JSON.stringify(state)}\n`, 0o600);
}

/**
 * Reads and validates the charm config: the config with its decoded TLS blobs (when set), or the problems
 * (option names and reasons).
 */
export async function loadConfig(
  ctx: CharmContext,
): Promise<{ config?: CharmConfig; tls?: TlsFiles; problems: OptionProblem[] }> {
  const parsed = parseCharmConfig(await ctx.backend.configGet());
  if (!parsed.config) return parsed;
  const { files, problems } = checkTlsBlobs(parsed.config);
  return problems.length ? { problems } : { config: parsed.config, ...(files && { tls: files }), problems };
}

/** The TLS files the unit should serve, and from where. */
export type TlsPlan =
  /** Write these (from the blobs, which win over a provider: the operator set them on purpose). */
  | { kind: 'write'; source: 'blobs' | 'provider'; files: TlsFiles }
  /** Their source is gone (blobs unset, provider departed): remove them and serve HTTP again. */
  | { kind: 'remove' }
  /** Leave what is at the paths: an operator's files, or the last good ones while a provider sends bad data. */
  | { kind: 'keep' };

export interface UnitState {
  facts: UnitFacts;
  agent: AgentState;
  /** TLS files from the tls-*-blob options, decoded and checked. */
  blobTls?: TlsFiles;
  tls: {
    plan: TlsPlan;
    paths: { cert: string; key: string; ca: string };
    /** What is at the paths now. */
    onDisk: { cert?: string; key?: string; ca?: string };
  };
  /** The htpasswd file as it is. */
  htpasswd?: string;
  relations: RelationStates;
}

/** Why the unit cannot be configured: it is blocked saying so and nothing changes. */
export interface Unconfigurable {
  blocked: string;
  /** Lines for the unit's log. */
  log: string[];
}

/** Reads every input (each hook tool is a process: all at once) into the unit's state. */
export async function gather(ctx: CharmContext, machine: Machine): Promise<UnitState | Unconfigurable> {
  const { backend } = ctx;
  const entries = relationEntries();
  const [loaded, address, publicAddress, leader, ...remotes] = await Promise.all([
    loadConfig(ctx),
    backend.privateAddress(),
    backend.publicAddress(),
    backend.isLeader(),
    ...entries.map(([, module]) => remoteUnits(backend, module.endpoint)),
  ]);
  const { config, tls: blobTls, problems } = loaded;
  if (!config)
    return {
      // Juju shows one line: each option with its reason, never its value (it may be a secret).
      blocked: `Invalid charm config: ${problems.map((p) => `${p.option} ${p.reason}`).join('; ')}`,
      log: problems.map((p) => `config option ${p.option} ${p.reason}`),
    };
  const facts: UnitFacts = {
    unitName: ctx.unitName,
    appName: ctx.appName,
    address,
    publicAddress,
    hostName: hostname(),
    leader,
    config,
  };
  const relations = Object.fromEntries(
    entries.map(([name, module], i) => [name, module.gather(remotes[i] ?? [], facts)]),
  ) as RelationStates;

  const paths = { cert: config['tls-cert-path'], key: config['tls-key-path'], ca: config['tls-ca-path'] };
  const files: { option: string; path: string }[] = [
    { option: 'tls-cert-path', path: paths.cert },
    { option: 'tls-key-path', path: paths.key },
    { option: 'tls-ca-path', path: paths.ca },
    { option: 'htpasswd', path: PATHS.htpasswd },
  ];
  const read: (string | undefined)[] = [];
  for (const { option, path } of files) {
    try {
      read.push(await machine.read(path));
    } catch (err) {
      // Not "no such file": a key the agent cannot read must not turn TLS off without a word.
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      return { blocked: `Cannot read ${path} (${option}): ${why}`, log: [`cannot read ${path}: ${why}`] };
    }
  }
  const [cert, key, ca, htpasswd] = read;
  const agent = await readState(machine);
  return {
    facts,
    agent,
    ...(blobTls && { blobTls }),
    tls: { plan: tlsPlan(blobTls, relations.certProvider, agent), paths, onDisk: { cert, key, ca } },
    ...(htpasswd !== undefined && { htpasswd }),
    relations,
  };
}

/** The blobs, else a certificate from cert-provider, else files an operator put at the tls-*-path options. */
function tlsPlan(
  blobs: TlsFiles | undefined,
  provided: RelationStates['certProvider'],
  agent: AgentState,
): TlsPlan {
  if (blobs) return { kind: 'write', source: 'blobs', files: blobs };
  if (provided.state === 'ready') return { kind: 'write', source: 'provider', files: provided.files };
  // Bad data from the provider keeps the last good files.
  if (agent.tlsSource && provided.state !== 'invalid') return { kind: 'remove' };
  return { kind: 'keep' };
}

/** Whether gather found the unit configurable. */
export const configurable = (gathered: UnitState | Unconfigurable): gathered is UnitState =>
  !('blocked' in gathered);
