import { execa } from 'execa';
import type { Backend, LogLevel, StatusName } from './backend.js';
import { callToolServer, toolServerFrom } from './tool-socket.js';

/** Flattens values into hook tool `key=value` arguments (nested keys joined with dots, as action-set wants). */
function keyValues(values: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(values).flatMap(([k, v]) =>
    v !== null && typeof v === 'object'
      ? keyValues(v as Record<string, unknown>, `${prefix}${k}.`)
      : [`${prefix}${k}=${v ?? ''}`],
  );
}

/**
 * The production backend: Juju's hook tools on PATH, run with execa, their output read as JSON. What a hook
 * reads is remembered for the rest of the hook (one process), as ops does: Juju gives a hook a consistent
 * snapshot of config and relation data, so asking again only costs another process. Writes forget what they
 * change.
 */
export class HookToolsBackend implements Backend {
  private readonly reads = new Map<string, Promise<unknown>>();

  private readonly server = toolServerFrom(process.env);

  private async run(tool: string, args: string[] = []): Promise<string> {
    if (this.server) return callToolServer(this.server, process.env, tool, args);
    return (await execa(tool, args)).stdout;
  }

  private json<T>(tool: string, args: string[] = []): Promise<T> {
    const key = [tool, ...args].join('\0');
    let read = this.reads.get(key);
    if (!read) {
      read = this.run(tool, [...args, '--format=json']).then((out) =>
        out.trim() === '' ? null : JSON.parse(out),
      );
      // A failed read is not remembered.
      read.catch(() => this.reads.delete(key));
      this.reads.set(key, read);
    }
    return read as Promise<T>;
  }

  private forget(tool: string) {
    for (const key of this.reads.keys())
      if (key.startsWith(`${tool}\0`) || key === tool) this.reads.delete(key);
  }

  async configGet() {
    return (await this.json<Record<string, unknown>>('config-get')) ?? {};
  }
  async isLeader() {
    return (await this.json<boolean>('is-leader')) === true;
  }
  async leaderGet() {
    return (await this.json<Record<string, string>>('leader-get')) ?? {};
  }
  async leaderSet(values: Record<string, string | null>) {
    this.forget('leader-get');
    await this.run('leader-set', keyValues(values));
  }
  async statusSet(status: StatusName, message: string) {
    await this.run('status-set', [status, message]);
  }
  async privateAddress() {
    const network = await this.json<{ 'bind-addresses'?: { addresses?: { value?: string }[] }[] }>(
      'network-get',
      ['juju-info'],
    ).catch(() => undefined);
    const address = network?.['bind-addresses']?.[0]?.addresses?.[0]?.value;
    return address ?? (await this.run('unit-get', ['private-address'])).trim();
  }
  async publicAddress() {
    return (await this.run('unit-get', ['public-address'])).trim();
  }
  async openPort(port: number) {
    this.forget('opened-ports');
    await this.run('open-port', [`${port}/tcp`]);
  }
  async closePort(port: number) {
    this.forget('opened-ports');
    await this.run('close-port', [`${port}/tcp`]);
  }
  async openedPorts() {
    const ports = (await this.json<string[]>('opened-ports')) ?? [];
    return ports.map((p) => Number.parseInt(p, 10)).filter((p) => Number.isFinite(p));
  }
  async relationIds(endpoint: string) {
    return (await this.json<string[]>('relation-ids', [endpoint])) ?? [];
  }
  async relationList(relationId: string) {
    return (await this.json<string[]>('relation-list', ['-r', relationId])) ?? [];
  }
  async relationGet(relationId: string, unitOrApp: string) {
    const app = !unitOrApp.includes('/');
    return (
      (await this.json<Record<string, string>>('relation-get', [
        '-r',
        relationId,
        ...(app ? ['--app'] : []),
        '-',
        unitOrApp,
      ])) ?? {}
    );
  }
  async relationSet(relationId: string, values: Record<string, string | null>, app = false) {
    this.forget('relation-get');
    await this.run('relation-set', ['-r', relationId, ...(app ? ['--app'] : []), ...keyValues(values)]);
  }
  async actionGet() {
    return (await this.json<Record<string, unknown>>('action-get')) ?? {};
  }
  async actionSet(values: Record<string, string>) {
    await this.run('action-set', keyValues(values));
  }
  async actionFail(message: string) {
    await this.run('action-fail', [message]);
  }
  async actionLog(message: string) {
    await this.run('action-log', [message]);
  }
  async log(message: string, level: LogLevel = 'INFO') {
    await this.run('juju-log', ['-l', level, message]);
  }
}
