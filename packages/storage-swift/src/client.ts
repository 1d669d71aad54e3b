import type { IncomingHttpHeaders } from 'node:http';
import { BackendUnavailableError, mapLimited, StorageError } from '@regop/storage';
import { Agent, type Dispatcher, EnvHttpProxyAgent, request } from 'undici';
import { authenticate, type SwiftAuth } from './auth.js';
import type { SwiftOptions } from './options.js';

const NAME = 'swift';

/** One entry of a container listing: an object, or a pseudo-directory when listed with a delimiter. */
export type ListEntry =
  | { kind: 'object'; name: string; bytes: number; lastModified: Date }
  | { kind: 'dir'; name: string };

interface RawEntry {
  name?: string;
  subdir?: string;
  bytes?: number;
  last_modified?: string;
}

export interface SendOptions {
  headers?: Record<string, string>;
  /** Replayable, so a request refused for an expired token is sent again after logging in. */
  body?: Buffer | string;
  query?: Record<string, string>;
  /** To the account rather than the container. */
  account?: boolean;
}

export interface RequestOptions extends SendOptions {
  /** Statuses besides 2xx that answer the request, or 'any' for a caller that reads the status itself. */
  ok?: number[] | 'any';
  /** 'absent': a 404 answers undefined (the object is not there), rather than failing. */
  missing?: 'absent';
}

/** What a request whose body nobody reads answered. */
export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
}

/** Encodes an object name for a URL, keeping its slashes. */
export const encodeName = (name: string) => name.split('/').map(encodeURIComponent).join('/');

export const header = (res: { headers: IncomingHttpHeaders }, name: string): string | undefined => {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/** Reads and drops a response body, so its connection goes back to the pool. */
export const drain = (res: Dispatcher.ResponseData) => res.body.dump();

/**
 * The Swift API over undici: logs in lazily, sends each request with the current token and logs in again
 * once when a token is refused (they expire). Unreachable servers and 5xx answers throw
 * BackendUnavailableError. request() is for answers without a body to read (it drains them and checks the
 * status); send() leaves a body the caller reads, and draining it, to the caller.
 */
export class SwiftClient {
  readonly dispatcher: Dispatcher;
  /** Objects one bulk delete may name; 0 where the cluster offers none (see deleteObjects). */
  bulkDeleteMax = 0;
  private auth: SwiftAuth | undefined;
  private loggingIn: Promise<SwiftAuth> | undefined;

  constructor(readonly options: SwiftOptions) {
    const agentOptions = {
      connect: { rejectUnauthorized: !options.insecureskipverify },
      keepAliveTimeout: 30_000,
    };
    // HTTP(S)_PROXY and NO_PROXY in the environment (the charm's registry-http(s)-proxy) route Swift's traffic too.
    this.dispatcher = ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy'].some((v) => process.env[v])
      ? new EnvHttpProxyAgent(agentOptions)
      : new Agent(agentOptions);
  }

  /** Logs in (once for concurrent callers); `refresh` replaces a token the server refused. */
  async login(refresh = false): Promise<SwiftAuth> {
    if (this.auth && !refresh) return this.auth;
    this.loggingIn ??= authenticate(this.options, this.dispatcher).finally(() => {
      this.loggingIn = undefined;
    });
    this.auth = await this.loggingIn;
    return this.auth;
  }

  /** The URL of an object (or of the container when `name` is empty). */
  async url(name = ''): Promise<string> {
    const { storageUrl } = await this.login();
    const container = `${storageUrl.replace(/\/+$/, '')}/${encodeURIComponent(this.options.container)}`;
    return name ? `${container}/${encodeName(name)}` : container;
  }

  /** A request to the container (`name` empty), one of its objects, or the account (`account: true`). */
  async send(
    method: Dispatcher.HttpMethod,
    name: string,
    options: SendOptions = {},
  ): Promise<Dispatcher.ResponseData> {
    for (let attempt = 0; ; attempt++) {
      const auth = await this.login(attempt > 0);
      const url = options.account ? auth.storageUrl : await this.url(name);
      const query = options.query ? `?${new URLSearchParams(options.query)}` : '';
      let res: Dispatcher.ResponseData;
      try {
        res = await request(`${url}${query}`, {
          dispatcher: this.dispatcher,
          method,
          headers: { 'x-auth-token': auth.token, ...options.headers },
          body: options.body,
        });
      } catch (err) {
        throw new BackendUnavailableError(
          `cannot reach Swift at ${new URL(url).origin}: ${(err as { code?: string }).code ?? (err as Error).message}`,
          NAME,
          { cause: err },
        );
      }
      if (res.statusCode === 401 && attempt === 0) {
        await drain(res);
        continue;
      }
      if (res.statusCode >= 500) {
        await drain(res);
        throw new BackendUnavailableError(
          `Swift answered ${method} ${name || 'container'}: HTTP ${res.statusCode}`,
          NAME,
        );
      }
      return res;
    }
  }

  /**
   * A request whose answer has no body to read: drained, so its connection goes back to the pool. A status
   * outside 2xx and `ok` throws a StorageError naming the request; with `missing: 'absent'` a 404 answers
   * undefined.
   */
  async request(
    method: Dispatcher.HttpMethod,
    name: string,
    options: RequestOptions & { missing: 'absent' },
  ): Promise<Answer | undefined>;
  async request(method: Dispatcher.HttpMethod, name: string, options?: RequestOptions): Promise<Answer>;
  async request(
    method: Dispatcher.HttpMethod,
    name: string,
    options: RequestOptions = {},
  ): Promise<Answer | undefined> {
    const res = await this.send(method, name, options);
    await drain(res);
    const { statusCode: status, headers } = res;
    if (status === 404 && options.missing === 'absent') return undefined;
    const { ok = [] } = options;
    if (status >= 300 && ok !== 'any' && !ok.includes(status))
      throw new StorageError(`swift: ${method} ${name || 'container'}: HTTP ${status}`, NAME);
    return { status, headers };
  }

  /** Deletes objects, in bulk where the cluster allows it; objects already gone are not an error. */
  async deleteObjects(names: string[]): Promise<void> {
    if (this.bulkDeleteMax === 0) {
      await mapLimited(names, (n) => this.request('DELETE', n, { ok: [404] }));
      return;
    }
    const container = encodeURIComponent(this.options.container);
    for (let i = 0; i < names.length; i += this.bulkDeleteMax) {
      const body = names
        .slice(i, i + this.bulkDeleteMax)
        .map((n) => `/${container}/${encodeName(n)}`)
        .join('\n');
      const res = await this.send('POST', '', {
        account: true,
        query: { 'bulk-delete': '' },
        headers: { 'content-type': 'text/plain', accept: 'application/json' },
        body,
      });
      if (res.statusCode >= 300) {
        await drain(res);
        throw new StorageError(`swift: bulk delete: HTTP ${res.statusCode}`, NAME);
      }
      const result = (await res.body.json()) as { Errors?: [string, string][] };
      const failed = (result.Errors ?? []).filter(([, status]) => !status.startsWith('404'));
      if (failed.length > 0)
        throw new StorageError(
          `swift: bulk delete failed for ${failed.map((f) => f.join(' ')).join(', ')}`,
          NAME,
        );
    }
  }

  /** Pages through the container listing below `prefix` (10,000 entries a page, Swift's maximum). */
  async *listing(prefix: string, delimiter?: string): AsyncGenerator<ListEntry> {
    let marker = '';
    for (;;) {
      const res = await this.send('GET', '', {
        query: { format: 'json', prefix, ...(delimiter && { delimiter }), ...(marker && { marker }) },
      });
      if (res.statusCode === 404) {
        await drain(res);
        return;
      }
      if (res.statusCode >= 300) {
        await drain(res);
        throw new Error(`swift: listing ${prefix} failed: HTTP ${res.statusCode}`);
      }
      let page: RawEntry[] = [];
      if (res.statusCode === 204) await drain(res);
      else page = (await res.body.json()) as RawEntry[];
      for (const entry of page) {
        if (entry.subdir !== undefined) yield { kind: 'dir', name: entry.subdir.replace(/\/$/, '') };
        else if (entry.name !== undefined)
          yield {
            kind: 'object',
            name: entry.name,
            bytes: entry.bytes ?? 0,
            // Swift's listing times are UTC without a zone.
            lastModified: new Date(`${entry.last_modified ?? ''}Z`),
          };
      }
      const last = page.at(-1);
      if (!last) return;
      marker = last.subdir ?? last.name ?? '';
    }
  }

  /** The cluster's capabilities (GET /info), or undefined when it does not publish them. */
  async info(): Promise<Record<string, unknown> | undefined> {
    const { storageUrl } = await this.login();
    const res = await request(`${new URL(storageUrl).origin}/info`, { dispatcher: this.dispatcher }).catch(
      () => undefined,
    );
    if (!res) return undefined;
    if (res.statusCode !== 200) {
      await drain(res);
      return undefined;
    }
    return (await res.body.json()) as Record<string, unknown>;
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
