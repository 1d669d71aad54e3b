import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';

export interface WorkloadStatus {
  current: string;
  message: string;
}

export interface UnitState {
  app: string;
  address: string;
  /** The unit's root directory (its machine, as the charm sees it). */
  dir: string;
  status: WorkloadStatus;
  ports: string[];
}

export interface ApplicationState {
  charm: string;
  config: Record<string, unknown>;
  units: string[];
  nextUnit: number;
  leader?: string;
  leaderData: Record<string, string>;
}

export interface RelationState {
  id: number;
  endpoints: { app: string; endpoint: string }[];
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

export async function loadState(modelDir: string): Promise<ModelState> {
  const text = await readFile(statePath(modelDir), 'utf8').catch(() => undefined);
  return text ? (JSON.parse(text) as ModelState) : empty();
}

/** Written whole and renamed into place, so a reader never sees half a file. */
export async function saveState(modelDir: string, state: ModelState): Promise<void> {
  await mkdir(modelDir, { recursive: true });
  const tmp = `${statePath(modelDir)}.${randomUUID()}`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`);
  await rename(tmp, statePath(modelDir));
}

export interface CharmMeta {
  name: string;
  provides?: Record<string, { interface: string }>;
  requires?: Record<string, { interface: string }>;
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

const readYaml = async <T>(dir: string, file: string, fallback: T): Promise<T> =>
  (parse(await readFile(join(dir, file), 'utf8').catch(() => '')) as T | null) ?? fallback;

export const charmMeta = (dir: string) => readYaml<CharmMeta>(dir, 'metadata.yaml', { name: '' });
export const charmOptions = async (dir: string) =>
  (await readYaml<{ options?: Record<string, OptionSpec> }>(dir, 'config.yaml', {})).options ?? {};
export const charmActions = (dir: string) => readYaml<Record<string, ActionSpec>>(dir, 'actions.yaml', {});

/** The application's config as config-get reports it: every option, set values over defaults (null when unset). */
export async function effectiveConfig(app: ApplicationState): Promise<Record<string, unknown>> {
  const options = await charmOptions(app.charm);
  return Object.fromEntries(Object.entries(options).map(([k, o]) => [k, app.config[k] ?? o.default ?? null]));
}
