import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';

export interface ServiceDefinition {
  name: string;
  description: string;
  command: string[];
  env: Record<string, string>;
  /** The signal that makes the program re-read its configuration (reload); without one, reload restarts. */
  reloadSignal?: NodeJS.Signals;
}

/** Starts, stops and reports on long-running services. */
export interface ServiceManager {
  /** Writes the definition; says whether it changed. */
  install(def: ServiceDefinition): Promise<boolean>;
  installed(name: string): Promise<boolean>;
  start(name: string): Promise<void>;
  stop(name: string): Promise<void>;
  restart(name: string): Promise<void>;
  /** Makes a running service re-read its configuration (starts it when stopped). */
  reload(name: string): Promise<void>;
  running(name: string): Promise<boolean>;
  /** Stops and deletes the definition. */
  remove(name: string): Promise<void>;
  /** The last lines the service wrote (why it stopped). */
  lastWords(name: string, lines?: number): Promise<string>;
}

const unitName = (name: string) => `regop-${name}.service`;

/** systemd units in /etc/systemd/system, driven with systemctl. */
export class SystemdServices implements ServiceManager {
  private file(name: string) {
    return `/etc/systemd/system/${unitName(name)}`;
  }
  async install(def: ServiceDefinition): Promise<boolean> {
    const quote = (s: string) => `"${s.replace(/(["\\])/g, '\\$1')}"`;
    const text = [
      '[Unit]',
      `Description=${def.description}`,
      'After=network-online.target',
      '',
      '[Service]',
      `ExecStart=${def.command.map(quote).join(' ')}`,
      ...Object.entries(def.env).map(([k, v]) => `Environment=${quote(`${k}=${v}`)}`),
      ...(def.reloadSignal ? [`ExecReload=/bin/kill -${def.reloadSignal.replace(/^SIG/, '')} $MAINPID`] : []),
      'Restart=on-failure',
      '',
      '[Install]',
      'WantedBy=multi-user.target',
      '',
    ].join('\n');
    if ((await readFile(this.file(def.name), 'utf8').catch(() => '')) === text) return false;
    await writeFile(this.file(def.name), text);
    await execa('systemctl', ['daemon-reload']);
    await execa('systemctl', ['enable', unitName(def.name)]);
    return true;
  }
  async installed(name: string) {
    return (await readFile(this.file(name), 'utf8').catch(() => undefined)) !== undefined;
  }
  async start(name: string) {
    await execa('systemctl', ['start', unitName(name)]);
  }
  async stop(name: string) {
    await execa('systemctl', ['stop', unitName(name)]);
  }
  async restart(name: string) {
    await execa('systemctl', ['restart', unitName(name)]);
  }
  async reload(name: string) {
    await execa('systemctl', ['reload-or-restart', unitName(name)]);
  }
  async running(name: string) {
    return (
      (await execa('systemctl', ['is-active', '--quiet', unitName(name)], { reject: false })).exitCode === 0
    );
  }
  async lastWords(name: string, lines = 3) {
    const journal = await execa('journalctl', ['-u', unitName(name), '-n', String(lines), '-o', 'cat'], {
      reject: false,
    });
    return journal.stdout;
  }
  async remove(name: string) {
    await execa('systemctl', ['disable', '--now', unitName(name)], { reject: false });
    await rm(this.file(name), { force: true });
    await execa('systemctl', ['daemon-reload']);
  }
}

/**
 * Whether a process lives: `kill(pid, 0)` succeeds for a zombie too (dead, not yet reaped by its parent), so
 * its state is read where /proc tells it.
 */
export async function processAlive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined && PROC) return false;
  if (stat !== undefined) {
    // The state follows the command name, which is in parentheses and may itself hold spaces.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
const PROC = existsSync('/proc/self/stat');

/** Sends a signal to a process that may have exited since it was looked at. */
function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/**
 * Services as supervised processes under a root directory (the local model): the definition in
 * etc/<namespace>/services/<name>.json, the PID in run/<namespace>/<name>.pid, output in
 * var/log/<namespace>/<name>.log. Each is started detached, so it outlives the hook, and stopped by its PID.
 * Each charm on a machine takes its own namespace (a subordinate's processes are then its own to stop).
 */
export class ProcessServices implements ServiceManager {
  constructor(
    private readonly root: string,
    private readonly namespace = 'regop',
  ) {}

  private paths(name: string) {
    return {
      defs: join(this.root, 'etc', this.namespace, 'services'),
      def: join(this.root, 'etc', this.namespace, 'services', `${name}.json`),
      run: join(this.root, 'run', this.namespace),
      pid: join(this.root, 'run', this.namespace, `${name}.pid`),
      logs: join(this.root, 'var/log', this.namespace),
      log: join(this.root, 'var/log', this.namespace, `${name}.log`),
    };
  }

  async install(def: ServiceDefinition): Promise<boolean> {
    const { def: file } = this.paths(def.name);
    const text = `${JSON.stringify(def, null, 2)}\n`;
    if ((await readFile(file, 'utf8').catch(() => '')) === text) return false;
    await mkdir(this.paths(def.name).defs, { recursive: true });
    await writeFile(file, text);
    return true;
  }
  async installed(name: string) {
    return (await readFile(this.paths(name).def, 'utf8').catch(() => undefined)) !== undefined;
  }

  private async pid(name: string): Promise<number | undefined> {
    const pid = Number.parseInt(await readFile(this.paths(name).pid, 'utf8').catch(() => ''), 10);
    return Number.isFinite(pid) && (await processAlive(pid)) ? pid : undefined;
  }

  async running(name: string) {
    return (await this.pid(name)) !== undefined;
  }

  async start(name: string) {
    if (await this.running(name)) return;
    const paths = this.paths(name);
    const def = JSON.parse(await readFile(paths.def, 'utf8')) as ServiceDefinition;
    await mkdir(paths.logs, { recursive: true });
    await mkdir(paths.run, { recursive: true });
    const log = await open(paths.log, 'a');
    const [command, ...args] = def.command as [string, ...string[]];
    const child = spawn(command, args, {
      detached: true,
      stdio: ['ignore', log.fd, log.fd],
      env: { PATH: process.env.PATH ?? '', ...def.env },
    });
    child.unref();
    await log.close();
    await writeFile(paths.pid, String(child.pid));
  }

  async stop(name: string) {
    const pid = await this.pid(name);
    if (pid !== undefined) {
      signal(pid, 'SIGTERM');
      for (let i = 0; i < 100 && (await this.running(name)); i++) await sleep(100);
      if (await this.running(name)) signal(pid, 'SIGKILL');
    }
    await rm(this.paths(name).pid, { force: true });
  }

  async restart(name: string) {
    await this.stop(name);
    await this.start(name);
  }

  async reload(name: string) {
    const pid = await this.pid(name);
    const def = JSON.parse(await readFile(this.paths(name).def, 'utf8')) as ServiceDefinition;
    if (pid !== undefined && def.reloadSignal) signal(pid, def.reloadSignal);
    else await this.restart(name);
  }

  async remove(name: string) {
    await this.stop(name);
    await rm(this.paths(name).def, { force: true });
  }

  async lastWords(name: string, lines = 3): Promise<string> {
    const text = await readFile(this.paths(name).log, 'utf8').catch(() => '');
    return text.trim().split('\n').slice(-lines).join('\n');
  }
}
