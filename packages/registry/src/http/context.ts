import type { AccessController } from '@regop/auth';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Registry } from '../content/registry.js';
import type { PullThroughCache } from '../proxy/cache.js';
import type { EventSink, EventTarget, RegistryEvent } from './events.js';

export interface RegistryHttpOptions {
  registry: Registry;
  /** storage.maintenance.readonly: every write answers 405. */
  readOnly?: boolean;
  /** storage.delete.enabled. */
  deleteEnabled?: boolean;
  /** storage.redirect.disable negated: blob GETs may redirect to the driver's URL. */
  redirect?: boolean;
  /** http.relativeurls: Location headers carry a path only. */
  relativeUrls?: boolean;
  /** http.host: the externally visible base URL for Location headers. */
  host?: string;
  /** http.headers: added to every /v2 response. */
  headers?: Record<string, string[]>;
  /** auth: decides every request from the access its route needs; absent, everything is allowed. */
  accessController?: AccessController;
  /** Told of every push, pull, mount and delete (notifications); it must not block. */
  events?: EventSink;
  /** referrers.pagesize: the bytes of descriptors one referrers answer carries (more go to a next page). */
  referrersPageBytes?: number;
  /** proxy: a pull-through cache of another registry; pushes and deletes are refused. */
  proxy?: PullThroughCache;
}

export interface RouteContext {
  registry: Registry;
  options: RegistryHttpOptions;
  request: FastifyRequest;
  reply: FastifyReply;
  /** Validated repository name ('' for routes without one). */
  name: string;
  /** Other path parameters of the route (reference, digest, id), still raw. */
  params: Record<string, string>;
  query: Record<string, string | undefined>;
  /** An absolute (or, with relativeurls, relative) URL for a path below the registry root. */
  url(path: string): string;
  /**
   * Tells the event sink, if any, that this request did `action` to the target `describe` builds; it is called
   * only when events are sent, so a pull without notification endpoints builds nothing.
   */
  notify(action: RegistryEvent['action'], describe: () => Omit<EventTarget, 'repository'>): void;
}

export type Handler = (ctx: RouteContext) => Promise<void>;
