import type { IncomingHttpHeaders } from 'node:http';

/** One resource and the actions asked on it, as in a token scope `repository:NAME:pull,push`. */
export interface Access {
  type: string;
  name: string;
  actions: string[];
}

export const formatScope = (access: Access) => `${access.type}:${access.name}:${access.actions.join(',')}`;

/** Parses `type:name:actions` (a name may hold colons, e.g. a registry host with a port). */
export function parseScope(scope: string): Access | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const actions = scope
    .slice(last + 1)
    .split(',')
    .filter(Boolean);
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions };
}

export interface AuthRequest {
  headers: IncomingHttpHeaders;
  /** The client's address, for limits on failed attempts. */
  address?: string;
  /** http or https, as the client reached the registry (for challenges pointing back at it). */
  protocol?: string;
}

export interface Grant {
  /** The authenticated user, or undefined for anonymous access. */
  user?: string;
}

/**
 * A refused request: 401 UNAUTHORIZED with a challenge for the client to answer, 403 DENIED when
 * credentials were fine but do not allow the access, 429 TOOMANYREQUESTS after too many failed attempts, or
 * 503 UNAVAILABLE when what checks credentials (a directory) cannot be reached.
 */
export class AuthFailure extends Error {
  constructor(
    readonly code: 'UNAUTHORIZED' | 'DENIED' | 'TOOMANYREQUESTS' | 'UNAVAILABLE',
    message: string,
    readonly challenge?: string,
    /** With TOOMANYREQUESTS: when the client may try again. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'AuthFailure';
  }

  get status(): 401 | 403 | 429 | 503 {
    return STATUS[this.code];
  }
}

const STATUS = { UNAUTHORIZED: 401, DENIED: 403, TOOMANYREQUESTS: 429, UNAVAILABLE: 503 } as const;

/** Decides, per request, whether the access it needs is granted (distribution's auth.AccessController). */
export interface AccessController {
  authorize(request: AuthRequest, access: Access[]): Promise<Grant>;
  /** Throws when what the controller depends on (a directory) cannot be reached: /debug/health reports it. */
  probe?(): Promise<void>;
}

/** The value of a quoted challenge parameter: backslash-escape quotes and backslashes. */
export const quote = (value: string) => `"${value.replace(/["\\]/g, '\\$&')}"`;
