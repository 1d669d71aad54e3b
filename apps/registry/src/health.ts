import { isPathNotFound, type StorageDriver } from '@regop/storage';

export interface HealthOptions {
  intervalMs: number;
  /** Consecutive failures before the registry is reported unhealthy. */
  threshold: number;
}

/**
 * distribution's storage driver health check, made to tolerate an empty store: a root that does not exist
 * yet (a fresh disk, bucket or container) is healthy, only a failing backend is not.
 */
export class StorageHealth {
  private failures = 0;
  private lastError: string | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly driver: StorageDriver,
    private readonly options: HealthOptions,
  ) {}

  get healthy(): boolean {
    return this.failures < this.options.threshold;
  }

  /** Problems by check name, as distribution's /debug/health reports them; empty when healthy. */
  status(): Record<string, string> {
    return this.healthy ? {} : { [`storagedriver_${this.driver.name}`]: this.lastError ?? 'unhealthy' };
  }

  async check(): Promise<void> {
    try {
      await this.driver.stat('/').catch((err) => {
        if (!isPathNotFound(err)) throw err;
      });
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
