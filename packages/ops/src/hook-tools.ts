import { execa } from 'execa';
import type { Backend, LogLevel, StatusName } from './backend.js';

/** Flattens values into hook tool `key=value` arguments (nested keys joined with dots, as action-set wants). */
function keyValues(values: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(values).flatMap(([k, v]) =>
    v !== null && typeof v === 'object'
      ? keyValues(v as Record<string, unknown>, `${prefix}${k}.`)
      : [`${prefix}${k}=${v ?? ''}`],
  );
}

/** The production backend: Juju's hook tools on PATH, run with execa, their output read as JSON. */
export class HookToolsBackend implements Backend {
  private async run(tool: string, args: string[] = []): Promise<string> {
    return (await execa(tool, args)).stdout;
  }

  private async json<T>(tool: string, args: string[] = []): Promise<T> {
    const out = await this.run(tool, [...args, '--format=json']);
    return (out.trim() === '' ? null : JSON.parse(out)) as T;
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
  async openPort(port: number) {
    await this.run('open-port', [`${port}/tcp`]);
  }
  async closePort(port: number) {
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
