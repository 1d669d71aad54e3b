import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface WorkloadStatus {
  current: string;
  message: string;
}

export interface UnitState {
  app: string;
  address: string;
  /** The unit's root directory (its machine, as the charm sees it); a subordinate shares its principal's. */
  dir: string;
  /** For a subordinate unit: the principal unit whose machine it lives on. */
  principal?: string;
  status: WorkloadStatus;
  ports: string[];
}

export interface ApplicationState {
  charm: string;
  /** A subordinate application: its units come with container-scoped relations, one per principal unit. */
  subordinate?: boolean;
  config: Record<string, unknown>;
  units: string[];
  nextUnit: number;
  leader?: string;
  leaderData: Record<string, string>;
}

export interface RelationState {
  id: number;
  endpoints: { app: string; endpoint: string }[];
  /** A container-scoped relation pairs each subordinate unit with its principal only. */
  scope?: 'global' | 'container';
  /** Units that have left the relation's scope (relation-departed ran or is running): nobody lists them. */
  departed?: string[];
  /** Settings by unit name or application name. */
  data: Record<string, Record<string, string>>;
}

export interface ActionState {
  unit: string;
  name: string;
  params: Record<string, unknown>;
  results: Record<string, string>;
  status: 'running' | 'completed' | 'failed';
  message?: string;
  log: string[];
}

export interface ModelState {
  /** Second and third octets of this model's 127.x.y.z unit addresses, random so models on one machine differ. */
  addressBase: [number, number];
  nextAddress: number;
  nextRelation: number;
  applications: Record<string, ApplicationState>;
  units: Record<string, UnitState>;
  relations: RelationState[];
  actions: Record<string, ActionState>;
  /** relation-changed hooks owed to units whose remote side wrote settings: [unit, relation id, remote]. */
  pending: [string, number, string][];
}

const empty = (): ModelState => ({
  addressBase: [10 + Math.floor(Math.random() * 240), Math.floor(Math.random() * 250)],
  nextAddress: 1,
  nextRelation: 0,
  applications: {},
  units: {},
  relations: [],
  actions: {},
  pending: [],
});

export const statePath = (modelDir: string) => join(modelDir, 'state.json');

/** The state as last saved: a consistent snapshot (saves rename a whole file into place). */
export async function loadState(modelDir: string): Promise<ModelState> {
  const text = await readFile(statePath(modelDir), 'utf8').catch(() => undefined);
  return text ? (JSON.parse(text) as ModelState) : empty();
}

/** Written whole and renamed into place, so a reader never sees half a file. Callers hold the lock. */
export async function saveState(modelDir: string, state: ModelState): Promise<void> {
  await mkdir(modelDir, { recursive: true });
  const tmp = `${statePath(modelDir)}.${randomUUID()}`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`);
  await rename(tmp, statePath(modelDir));
}

/** Each model's queue of this process's updates (a process works on one model). */
const queues = new Map<string, Promise<unknown>>();

/**
 * Reads, changes and saves the state under the model's lock, so the CLI and the hook tools its hooks run
 * (other processes) never lose each other's writes. `change` must not run hooks: their tools need the lock.
 */
export function updateState<T>(modelDir: string, change: (state: ModelState) => T | Promise<T>): Promise<T> {
  // Callers in this process (the CLI and the tool server answering every unit's hooks at once) queue here
  // rather than poll the file lock, whose retries wait up to 50 ms each; the file lock is for other processes.
  const run = (queues.get(modelDir) ?? Promise.resolve()).then(() => lockedUpdate(modelDir, change));
  queues.set(
    modelDir,
    run.catch(() => undefined),
  );
  return run;
}
async function lockedUpdate<T>(modelDir: string, change: (state: ModelState) => T | Promise<T>): Promise<T> {
  await mkdir(modelDir, { recursive: true });
  // Loaded here, not at the top: hook tools that only read (most calls) start faster without it.
  const { default: lockfile } = await import('proper-lockfile');
  const release = await lockfile.lock(statePath(modelDir), {
    realpath: false,
    stale: 10_000,
    retries: { retries: 400, minTimeout: 5, maxTimeout: 50 },
  });
  try {
    const state = await loadState(modelDir);
    const result = await change(state);
    await saveState(modelDir, state);
    return result;
  } finally {
    await release();
  }
}

export interface CharmMeta {
  name: string;
  subordinate?: boolean;
  provides?: Record<string, { interface: string; scope?: string }>;
  requires?: Record<string, { interface: string; scope?: string }>;
  peers?: Record<string, { interface: string }>;
}

export interface OptionSpec {
  type: 'string' | 'int' | 'float' | 'boolean';
  default?: unknown;
}

export interface ActionSpec {
  params?: Record<string, { type?: string; default?: unknown }>;
  required?: string[];
  additionalProperties?: boolean;
}

const readYaml = async <T>(dir: string, file: string, fallback: T): Promise<T> => {
  const { parse } = await import('yaml');
  return (parse(await readFile(join(dir, file), 'utf8').catch(() => '')) as T | null) ?? fallback;
};

export const charmMeta = (dir: string) => readYaml<CharmMeta>(dir, 'metadata.yaml', { name: '' });
export const charmOptions = async (dir: string) =>
  (await readYaml<{ options?: Record<string, OptionSpec> }>(dir, 'config.yaml', {})).options ?? {};
export const charmActions = (dir: string) => readYaml<Record<string, ActionSpec>>(dir, 'actions.yaml', {});

/** The application's config as config-get reports it: every option, set values over defaults (null when unset). */
export async function effectiveConfig(app: ApplicationState): Promise<Record<string, unknown>> {
  const options = await charmOptions(app.charm);
  return Object.fromEntries(Object.entries(options).map(([k, o]) => [k, app.config[k] ?? o.default ?? null]));
}

/**
 * The units on the other side of a relation from `unit`, as relation-list reports them: the other units of
 * its application for a peer relation, the remote application's units otherwise, and for a container-scoped
 * relation only the unit sharing its machine (a subordinate's principal, or a principal's subordinate).
 */
export function relatedUnits(state: ModelState, relation: RelationState, unit: string): string[] {
  const own = state.units[unit];
  const gone = new Set(relation.departed ?? []);
  if (!own || gone.has(unit)) return [];
  const apps = relation.endpoints.map((e) => e.app);
  const peer = apps.every((a) => a === own.app);
  return Object.keys(state.units).filter((u) => {
    const other = state.units[u] as UnitState;
    if (gone.has(u)) return false;
    if (peer) return other.app === own.app && u !== unit;
    if (other.app === own.app || !apps.includes(other.app)) return false;
    return relation.scope !== 'container' || other.principal === unit || own.principal === u;
  });
}

/** The endpoint `unit`'s application takes in a relation. */
export const endpointOf = (state: ModelState, relation: RelationState, unit: string): string =>
  relation.endpoints.find((e) => e.app === state.units[unit]?.app)?.endpoint ?? '';
