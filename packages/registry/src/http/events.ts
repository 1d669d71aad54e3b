/**
 * What the registry tells listeners (distribution's notifications): one event per push, pull, mount or delete
 * of a manifest or blob, with the request that caused it. Sending them is the server's (notifications.endpoints).
 */
export interface EventTarget {
  mediaType?: string;
  size?: number;
  digest?: string;
  /** distribution's older name for size, still sent. */
  length?: number;
  repository: string;
  fromRepository?: string;
  url?: string;
  tag?: string;
}

export interface RegistryEvent {
  action: 'push' | 'pull' | 'mount' | 'delete';
  target: EventTarget;
  request: { id: string; addr: string; host: string; method: string; useragent: string };
  actor: { name?: string };
}

export type EventSink = (event: RegistryEvent) => void;

/** The media type distribution gives blob events. */
export const BLOB_MEDIA_TYPE = 'application/octet-stream';
