import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';

export interface Server {
  pid: number;
  url: string;
  /** Everything the process wrote so far. */
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`; resolves with the exit code or signal. */
  stop(graceMs?: number): Promise<number | string | null>;
  /** SIGKILL at once (a crash). */
  kill9(): Promise<void>;
  exited: Promise<number | string | null>;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function waitUntil(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
  child: ChildProcess,
  log: () => string,
  pollMs: number,
) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`${what} exited early:\n${log()}`);
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  throw new Error(`${what} did not become ready in ${timeoutMs} ms:\n${log()}`);
}

const running = new Set<Server>();

/** Starts a server process and waits until `url` + readyPath answers. Every one is stopped by its PID. */
export async function startServer(
  command: string,
  args: string[],
  options: {
    url: string;
    env?: NodeJS.ProcessEnv;
    cwd?: string;
    readyPath?: string;
    /** Replaces the readiness probe (a GET of url + readyPath answering below 500). */
    ready?: () => Promise<boolean>;
    timeoutMs?: number;
    /** How often readiness is probed (default 100 ms; less to time a start). */
    pollMs?: number;
    name?: string;
    /** Where the output goes: kept in memory (the default, for output()) or dropped. */
    output?: 'keep' | 'ignore';
  },
): Promise<Server> {
  const child = spawn(command, args, {
    cwd: options.cwd,
    // A variable set to undefined in options.env is removed from the child's environment.
    env: Object.fromEntries(
      Object.entries({ ...process.env, ...options.env }).filter(([, v]) => v !== undefined),
    ),
    stdio: options.output === 'ignore' ? 'ignore' : ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout?.on('data', (d) => {
    log += d;
  });
  child.stderr?.on('data', (d) => {
    log += d;
  });
  const exited = new Promise<number | string | null>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal)),
  );
  const name = options.name ?? command;
  const server: Server = {
    pid: child.pid as number,
    url: options.url,
    output: () => log,
    exited,
    async stop(graceMs = 10_000) {
      running.delete(server);
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(server.pid, 'SIGTERM');
        const timer = setTimeout(
          () => child.exitCode === null && process.kill(server.pid, 'SIGKILL'),
          graceMs,
        );
        const result = await exited;
        clearTimeout(timer);
        return result;
      }
      return exited;
    },
    async kill9() {
      running.delete(server);
      process.kill(server.pid, 'SIGKILL');
      await exited;
    },
  };
  running.add(server);
  try {
    const probe = `${options.url}${options.readyPath ?? '/v2/'}`;
    await waitUntil(
      options.ready ?? (async () => (await fetch(probe)).status < 500),
      options.timeoutMs ?? 30_000,
      name,
      child,
      () => log,
      options.pollMs ?? 100,
    );
  } catch (err) {
    await server.stop(1000);
    throw err;
  }
  return server;
}

/** Stops whatever a test left running (by PID). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((s) => s.stop(5000)));
}

/** A process's resident memory now and at its peak (VmHWM), in bytes, from /proc (Linux). */
export async function memoryOf(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kB = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  return { rss: kB('VmRSS'), peak: kB('VmHWM') };
}
