import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { Backend, LogLevel, StatusName } from './backend.js';
import type { Charm, CharmContext, JujuEvent } from './charm.js';
import { ActionError } from './charm.js';

interface Relation {
  endpoint: string;
  units: string[];
  data: Map<string, Record<string, string>>;
}

/** An in-memory stand-in for the hook tools, holding what Juju would. */
export class MemoryBackend implements Backend {
  config: Record<string, unknown> = {};
  leader = true;
  leaderData: Record<string, string> = {};
  status: { current: StatusName | 'unknown'; message: string } = { current: 'unknown', message: '' };
  address = '10.0.0.10';
  publicAddr = '192.0.2.10';
  ports = new Set<number>();
  relations = new Map<string, Relation>();
  action: {
    params: Record<string, unknown>;
    results: Record<string, string>;
    failed?: string;
    logs: string[];
  } = {
    params: {},
    results: {},
    logs: [],
  };
  logs: { level: LogLevel; message: string }[] = [];

  constructor(readonly unitName: string) {}

  async configGet() {
    return structuredClone(this.config);
  }
  async isLeader() {
    return this.leader;
  }
  async leaderGet() {
    return { ...this.leaderData };
  }
  async leaderSet(values: Record<string, string | null>) {
    if (!this.leader) throw new Error('leader-set: cannot write leadership settings: not the leader');
    for (const [k, v] of Object.entries(values)) {
      if (v === null || v === '') delete this.leaderData[k];
      else this.leaderData[k] = v;
    }
  }
  async statusSet(status: StatusName, message: string) {
    this.status = { current: status, message };
  }
  async privateAddress() {
    return this.address;
  }
  async publicAddress() {
    return this.publicAddr;
  }
  async openPort(port: number) {
    this.ports.add(port);
  }
  async closePort(port: number) {
    this.ports.delete(port);
  }
  async openedPorts() {
    return [...this.ports].sort((a, b) => a - b);
  }
  async relationIds(endpoint: string) {
    return [...this.relations].filter(([, r]) => r.endpoint === endpoint).map(([id]) => id);
  }
  async relationList(relationId: string) {
    return [...(this.relation(relationId).units ?? [])];
  }
  async relationGet(relationId: string, unitOrApp: string) {
    return { ...this.relation(relationId).data.get(unitOrApp) };
  }
  async relationSet(relationId: string, values: Record<string, string | null>, app = false) {
    const key = app ? (this.unitName.split('/')[0] as string) : this.unitName;
    const data = this.relation(relationId).data;
    const bag = { ...data.get(key) };
    for (const [k, v] of Object.entries(values)) {
      if (v === null || v === '') delete bag[k];
      else bag[k] = v;
    }
    data.set(key, bag);
  }
  async actionGet() {
    return structuredClone(this.action.params);
  }
  async actionSet(values: Record<string, string>) {
    Object.assign(this.action.results, values);
  }
  async actionFail(message: string) {
    this.action.failed = message;
  }
  async actionLog(message: string) {
    this.action.logs.push(message);
  }
  async log(message: string, level: LogLevel = 'INFO') {
    this.logs.push({ level, message });
  }

  private relation(id: string): Relation {
    const relation = this.relations.get(id);
    if (!relation) throw new Error(`no relation ${id}`);
    return relation;
  }
}

/** The settings Juju gives a unit in every relation: its address (here a stable one made from its name). */
function jujuDefaults(unit: string): Record<string, string> {
  let n = 0;
  for (const c of unit) n = (n * 31 + c.charCodeAt(0)) % 250;
  const address = `10.1.${n}.${Number(unit.split('/')[1] ?? 0) + 2}`;
  return { 'private-address': address, 'ingress-address': address };
}

interface OptionSpec {
  default?: unknown;
}
interface ActionSpec {
  params?: Record<string, { default?: unknown }>;
}

/**
 * The config Juju gives a charm nobody configured: each option's default from its config.yaml (an option whose
 * default is null is left out, as config-get leaves it).
 */
export async function configDefaults(charmDir: string): Promise<Record<string, unknown>> {
  const config = parse(await readFile(join(charmDir, 'config.yaml'), 'utf8')) as {
    options?: Record<string, OptionSpec>;
  };
  return Object.fromEntries(
    Object.entries(config.options ?? {})
      .filter(([, spec]) => spec.default !== undefined && spec.default !== null)
      .map(([name, spec]) => [name, spec.default]),
  );
}

/**
 * Runs a charm's hooks and actions against a MemoryBackend: the charm's code is what runs, only the hook
 * tools are replaced. Config and action parameters get their defaults from config.yaml and actions.yaml, as
 * Juju gives them.
 */
export class Harness {
  readonly backend: MemoryBackend;
  private actions: Record<string, ActionSpec> = {};
  private nextRelation = 0;

  private constructor(
    private readonly charm: Charm,
    private readonly charmDir: string,
    readonly unitName: string,
  ) {
    this.backend = new MemoryBackend(unitName);
  }

  static async create(charm: Charm, charmDir: string, unitName = 'app/0'): Promise<Harness> {
    const harness = new Harness(charm, charmDir, unitName);
    harness.backend.config = await configDefaults(charmDir);
    harness.actions =
      (parse(await readFile(join(charmDir, 'actions.yaml'), 'utf8').catch(() => '{}')) as Record<
        string,
        ActionSpec
      >) ?? {};
    return harness;
  }

  private context(event: JujuEvent): CharmContext {
    return {
      event,
      backend: this.backend,
      unitName: this.unitName,
      appName: this.unitName.split('/')[0] as string,
      charmDir: this.charmDir,
    };
  }

  /** Runs a hook; relation hooks name their relation id. */
  async hook(name: string, relation?: { id: string; remoteUnit?: string }): Promise<void> {
    const endpoint = relation ? this.backend.relations.get(relation.id)?.endpoint : undefined;
    await this.charm(
      this.context({
        kind: 'hook',
        name,
        ...(relation && endpoint && { relation: { endpoint, ...relation } }),
      }),
    );
  }

  /** Sets config as `juju config` does and runs config-changed. */
  async config(values: Record<string, unknown>): Promise<void> {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete this.backend.config[k];
      else this.backend.config[k] = v;
    }
    await this.hook('config-changed');
  }

  /**
   * Adds a relation with remote units and their data; returns its id. Each remote unit's settings start with
   * the address Juju gives every unit (private-address, ingress-address), unless the test sets them.
   */
  addRelation(
    endpoint: string,
    remoteApp: string,
    units: Record<string, Record<string, string>> = {},
  ): string {
    const id = `${endpoint}:${this.nextRelation++}`;
    const data = new Map<string, Record<string, string>>(
      Object.entries(units).map(([unit, settings]) => [unit, { ...jujuDefaults(unit), ...settings }]),
    );
    data.set(remoteApp, {});
    this.backend.relations.set(id, { endpoint, units: Object.keys(units), data });
    return id;
  }

  /** Sets a remote unit's (or application's) settings, as its relation-set would; a unit not yet there joins. */
  setRelationData(id: string, who: string, data: Record<string, string>): void {
    const relation = this.backend.relations.get(id);
    if (!relation) throw new Error(`no relation ${id}`);
    relation.data.set(who, who.includes('/') ? { ...jujuDefaults(who), ...data } : { ...data });
    if (who.includes('/') && !relation.units.includes(who)) relation.units.push(who);
  }

  /** What this unit (or, with app, its application) published on a relation. */
  publishedData(id: string, app = false): Record<string, string> {
    const owner = app ? (this.unitName.split('/')[0] as string) : this.unitName;
    return { ...this.backend.relations.get(id)?.data.get(owner) };
  }

  /** A remote unit leaves the relation (run relation-departed after). */
  removeRelationUnit(id: string, unit: string): void {
    const relation = this.backend.relations.get(id);
    if (relation) relation.units = relation.units.filter((u) => u !== unit);
  }

  /** Runs an action with its defaulted parameters: its results, failure message and logs. */
  async action(name: string, params: Record<string, unknown> = {}) {
    const defaults = Object.fromEntries(
      Object.entries(this.actions[name]?.params ?? {})
        .filter(([, p]) => p.default !== undefined)
        .map(([k, p]) => [k, p.default]),
    );
    this.backend.action = { params: { ...defaults, ...params }, results: {}, logs: [] };
    try {
      await this.charm(this.context({ kind: 'action', name }));
    } catch (err) {
      if (!(err instanceof ActionError)) throw err;
      this.backend.action.failed = err.message;
    }
    return this.backend.action;
  }
}
