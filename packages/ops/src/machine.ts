import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ProcessServices, type ServiceManager, SystemdServices } from './services.js';

/**
 * Where the agent acts. On a real machine every path is what it says and services are systemd units. The
 * local model sets REGOP_ROOT (the unit's directory: every absolute path is taken below it, so nothing
 * touches the host's /etc or /srv) and REGOP_SERVICES=process (services are supervised processes).
 */
export class Machine {
  constructor(
    readonly root: string,
    readonly services: ServiceManager,
  ) {}

  /** `namespace` keeps a charm's supervised processes apart from another's on the same machine. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env, namespace = 'regop'): Machine {
    const root = env.REGOP_ROOT ?? '';
    return new Machine(
      root,
      env.REGOP_SERVICES === 'process' ? new ProcessServices(root, namespace) : new SystemdServices(),
    );
  }

  /** A local model's units listen on their own address; a real machine's on every interface. */
  get isolated(): boolean {
    return this.root !== '';
  }

  path(p: string): string {
    return this.root ? join(this.root, p) : p;
  }

  /**
   * A file's content; undefined only when it does not exist. Any other failure (a key the agent may not read, a
   * directory where a file should be) is an error for the unit to report, not "no such file".
   */
  async read(p: string): Promise<string | undefined> {
    try {
      return await readFile(this.path(p), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Writes a file when its content or mode differs; says whether it did. */
  async write(p: string, content: string, mode = 0o644): Promise<boolean> {
    const file = this.path(p);
    if ((await this.read(p)) === content) {
      await chmod(file, mode);
      return false;
    }
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, content, { mode });
    await chmod(file, mode);
    return true;
  }

  async remove(p: string): Promise<boolean> {
    if ((await this.read(p)) === undefined) return false;
    await rm(this.path(p), { force: true });
    return true;
  }
}
