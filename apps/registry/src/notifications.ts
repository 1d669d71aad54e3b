import { randomUUID } from 'node:crypto';
import type { RegistryConfig, RegistryEvent } from '@regop/registry';

type EndpointConfig = NonNullable<NonNullable<RegistryConfig['notifications']>['endpoints']>[number];

/** An event as distribution sends it: with its id, time and the registry it came from. */
export interface Envelope {
  events: (RegistryEvent & { id: string; timestamp: string; source: { addr: string; instanceID: string } })[];
}

export const EVENTS_MEDIA_TYPE = 'application/vnd.docker.distribution.events.v1+json';
/** Events an endpoint may have waiting; past this the oldest are dropped, with a warning. */
const MAX_QUEUED = 100_000;
/** Events sent in one request. */
const BATCH = 100;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface NotifierLog {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
}

/**
 * One notifications endpoint: its own queue in memory, sent in order by one loop that retries what failed (at
 * once until `threshold` failures in a row, then every `backoff`). Publishing only queues, so a push or pull
 * never waits for a listener.
 */
class Endpoint {
  private readonly queue: Envelope['events'] = [];
  private sending = false;
  private stopped = false;
  private failures = 0;
  private readonly ignoredTypes: Set<string>;
  private readonly ignoredActions: Set<string>;

  constructor(
    private readonly config: EndpointConfig,
    private readonly log: NotifierLog,
  ) {
    this.ignoredTypes = new Set([...(config.ignoredmediatypes ?? []), ...(config.ignore?.mediatypes ?? [])]);
    this.ignoredActions = new Set(config.ignore?.actions ?? []);
  }

  publish(event: Envelope['events'][number]): void {
    if (this.ignoredActions.has(event.action)) return;
    if (event.target.mediaType && this.ignoredTypes.has(event.target.mediaType)) return;
    if (this.queue.length >= MAX_QUEUED) {
      this.queue.shift();
      if (this.failures > 0)
        this.log.warn(
          { endpoint: this.config.name },
          'notifications: endpoint queue full, oldest event dropped',
        );
    }
    this.queue.push(event);
    void this.drain();
  }

  private async drain(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      while (this.queue.length > 0 && !this.stopped) {
        const batch = this.queue.slice(0, BATCH);
        try {
          await this.send({ events: batch });
          this.queue.splice(0, batch.length);
          if (this.failures >= (this.config.threshold ?? 10))
            this.log.info({ endpoint: this.config.name }, 'notifications: endpoint is answering again');
          this.failures = 0;
        } catch (err) {
          this.failures += 1;
          const threshold = this.config.threshold ?? 10;
          if (this.failures === threshold)
            this.log.warn(
              { endpoint: this.config.name, err: (err as Error).message, queued: this.queue.length },
              'notifications: endpoint failing, retrying with backoff',
            );
          await sleep(this.failures >= threshold ? (this.config.backoff ?? 1000) : 50);
        }
      }
    } finally {
      this.sending = false;
    }
  }

  private async send(envelope: Envelope): Promise<void> {
    const headers = new Headers({ 'content-type': EVENTS_MEDIA_TYPE });
    for (const [name, values] of Object.entries(this.config.headers ?? {}))
      for (const value of values) headers.append(name, value);
    const res = await fetch(this.config.url, {
      method: 'POST',
      headers,
      body: JSON.stringify(envelope),
      signal: AbortSignal.timeout(this.config.timeout ?? 1000),
    });
    await res.arrayBuffer();
    // distribution takes any 2xx or 3xx as delivered.
    if (res.status >= 400) throw new Error(`${this.config.url} answered ${res.status}`);
  }

  stop(): void {
    this.stopped = true;
  }
}

/** notifications.endpoints: every event, stamped once, to each enabled endpoint. */
export class Notifier {
  private readonly endpoints: Endpoint[];
  private readonly instanceID = randomUUID();
  private sequence = 0;

  constructor(
    endpoints: EndpointConfig[],
    /** host:port this registry serves on, as events name their source. */
    private readonly addr: string,
    log: NotifierLog,
  ) {
    this.endpoints = endpoints.filter((e) => !e.disabled).map((e) => new Endpoint(e, log));
  }

  publish = (event: RegistryEvent): void => {
    const stamped = {
      id: `${this.instanceID}-${this.sequence++}`,
      timestamp: new Date().toISOString(),
      ...event,
      source: { addr: this.addr, instanceID: this.instanceID },
    };
    for (const endpoint of this.endpoints) endpoint.publish(stamped);
  };

  stop(): void {
    for (const endpoint of this.endpoints) endpoint.stop();
  }
}
