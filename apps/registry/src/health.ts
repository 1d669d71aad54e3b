import { stat } from 'node:fs/promises';
import { connect } from 'node:net';
import type { RegistryConfig } from '@regop/registry';
import { isPathNotFound, type StorageDriver } from '@regop/storage';

export interface CheckOptions {
  intervalMs: number;
  /** Consecutive failures before the check reports unhealthy. */
  threshold: number;
  /**
   * Whether failing takes the registry out (/v2 answers 503; default true). A check that only informs (the
   * user directory: users it knows keep working while it is down) sets false and is only reported.
   */
  gates?: boolean;
}

/** One of distribution's health checks: a probe run every interval, unhealthy after `threshold` failures. */
export class PeriodicCheck {
  private failures = 0;
  private lastError: string | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    /** The name /debug/health reports it under, as distribution names it. */
    readonly name: string,
    /** Throws when the thing checked is unhealthy. */
    private readonly probe: () => Promise<void>,
    private readonly options: CheckOptions,
  ) {}

  get healthy(): boolean {
    return this.failures < this.options.threshold;
  }

  get gates(): boolean {
    return this.options.gates !== false;
  }

  get error(): string {
    return this.lastError ?? 'unhealthy';
  }

  async check(): Promise<void> {
    try {
      await this.probe();
      this.failures = 0;
      this.lastError = undefined;
    } catch (err) {
      this.failures += 1;
      this.lastError = (err as Error).message;
    }
  }

  start(): void {
    const tick = async () => {
      await this.check();
      this.timer = setTimeout(tick, this.options.intervalMs);
      this.timer.unref();
    };
    void tick();
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

/**
 * distribution's storage driver check, made to tolerate an empty store: a root that does not exist yet (a fresh
 * disk, bucket or container) is healthy, only a failing backend is not.
 */
export const storageCheck = (driver: StorageDriver, options: CheckOptions) =>
  new PeriodicCheck(
    `storagedriver_${driver.name}`,
    async () => {
      await driver.stat('/').catch((err) => {
        if (!isPathNotFound(err)) throw err;
      });
    },
    options,
  );

const SECOND = 1000;

/** Every check `health:` configures: storagedriver, and file, http and tcp as distribution runs them. */
export function healthChecks(health: RegistryConfig['health'], driver: StorageDriver): PeriodicCheck[] {
  const checks: PeriodicCheck[] = [];
  const storage = health?.storagedriver;
  if (storage?.enabled)
    checks.push(
      storageCheck(driver, {
        intervalMs: storage.interval ?? 10 * SECOND,
        threshold: storage.threshold ?? 3,
      }),
    );
  // A file that exists makes the registry unhealthy: operators drain a unit by touching it.
  for (const f of health?.file ?? [])
    checks.push(
      new PeriodicCheck(
        f.file,
        async () => {
          if (
            await stat(f.file).then(
              () => true,
              () => false,
            )
          )
            throw new Error('file exists');
        },
        { intervalMs: f.interval ?? 10 * SECOND, threshold: 1 },
      ),
    );
  for (const h of health?.http ?? [])
    checks.push(
      new PeriodicCheck(
        h.uri,
        async () => {
          const res = await fetch(h.uri, {
            headers: Object.entries(h.headers ?? {}).flatMap(([k, values]) =>
              values.map((v) => [k, v] as [string, string]),
            ),
            signal: AbortSignal.timeout(h.timeout ?? 5 * SECOND),
          });
          await res.arrayBuffer();
          if (res.status !== (h.statuscode ?? 200))
            throw new Error(`downstream service returned unexpected status: ${res.status}`);
        },
        { intervalMs: h.interval ?? 10 * SECOND, threshold: Math.max(1, h.threshold ?? 1) },
      ),
    );
  for (const t of health?.tcp ?? [])
    checks.push(
      new PeriodicCheck(
        t.addr,
        () =>
          new Promise<void>((resolve, reject) => {
            const [host, port] = [
              t.addr.slice(0, t.addr.lastIndexOf(':')),
              Number(t.addr.slice(t.addr.lastIndexOf(':') + 1)),
            ];
            const socket = connect({
              host: host.replace(/^\[|\]$/g, '') || '127.0.0.1',
              port,
              timeout: t.timeout ?? 5 * SECOND,
            });
            socket.once('connect', () => {
              socket.destroy();
              resolve();
            });
            socket.once('timeout', () => {
              socket.destroy();
              reject(new Error(`connection to ${t.addr} timed out`));
            });
            socket.once('error', reject);
          }),
        { intervalMs: t.interval ?? 10 * SECOND, threshold: Math.max(1, t.threshold ?? 1) },
      ),
    );
  return checks;
}

/** The checks together: healthy when all are; problems by check name, as /debug/health reports them. */
export class Health {
  constructor(readonly checks: PeriodicCheck[]) {}

  /** Whether the registry serves: every check that gates is healthy. */
  get healthy(): boolean {
    return this.checks.every((c) => c.healthy || !c.gates);
  }

  status(): Record<string, string> {
    return Object.fromEntries(this.checks.filter((c) => !c.healthy).map((c) => [c.name, c.error]));
  }

  start(): void {
    for (const c of this.checks) c.start();
  }

  stop(): void {
    for (const c of this.checks) c.stop();
  }
}
