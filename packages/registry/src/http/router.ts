import type { Access } from '@regop/auth';
import type { Handler } from './context.js';
import {
  cancelUpload,
  deleteBlob,
  getBlob,
  getUpload,
  patchUpload,
  putUpload,
  startUpload,
} from './routes/blobs.js';
import { base, catalog, listTags } from './routes/listing.js';
import { deleteManifest, getManifest, getReferrers, putManifest } from './routes/manifests.js';

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface Route {
  /** A stable label for logs and metrics. */
  id: string;
  /** Text every path of the route contains: routes without it are passed over before their pattern is tried. */
  hint: string;
  pattern: RegExp;
  handlers: Partial<Record<Method, Handler>>;
}

// Repository names contain slashes, so routes match the whole path; a name is the shortest prefix that lets
// the rest of the path match, and is validated by the spec's grammar before any handler runs.
const NAME = '(?<name>.+?)';

export const ROUTES: Route[] = [
  { id: 'base', hint: '/v2', pattern: /^\/v2\/?$/, handlers: { GET: base } },
  { id: 'catalog', hint: '/_catalog', pattern: /^\/v2\/_catalog$/, handlers: { GET: catalog } },
  {
    id: 'tags',
    hint: '/tags/list',
    pattern: new RegExp(`^/v2/${NAME}/tags/list$`),
    handlers: { GET: listTags },
  },
  {
    id: 'manifest',
    hint: '/manifests/',
    pattern: new RegExp(`^/v2/${NAME}/manifests/(?<reference>[^/]+)$`),
    handlers: { GET: getManifest, HEAD: getManifest, PUT: putManifest, DELETE: deleteManifest },
  },
  {
    id: 'upload-start',
    hint: '/blobs/uploads',
    pattern: new RegExp(`^/v2/${NAME}/blobs/uploads/?$`),
    handlers: { POST: startUpload },
  },
  {
    id: 'upload',
    hint: '/blobs/uploads/',
    pattern: new RegExp(`^/v2/${NAME}/blobs/uploads/(?<id>[^/]+)$`),
    handlers: { GET: getUpload, PATCH: patchUpload, PUT: putUpload, DELETE: cancelUpload },
  },
  {
    id: 'blob',
    hint: '/blobs/',
    pattern: new RegExp(`^/v2/${NAME}/blobs/(?<digest>[^/]+)$`),
    handlers: { GET: getBlob, HEAD: getBlob, DELETE: deleteBlob },
  },
  {
    id: 'referrers',
    hint: '/referrers/',
    pattern: new RegExp(`^/v2/${NAME}/referrers/(?<digest>[^/]+)$`),
    handlers: { GET: getReferrers },
  },
];

export interface Match {
  route: Route;
  params: Record<string, string>;
}

export function matchRoute(path: string): Match | undefined {
  for (const route of ROUTES) {
    if (!path.includes(route.hint)) continue;
    const m = route.pattern.exec(path);
    if (m) return { route, params: { ...m.groups } };
  }
  return undefined;
}

const repository = (name: string, ...actions: string[]): Access => ({ type: 'repository', name, actions });

/**
 * The access a request needs, as distribution asks its access controller: pull to read, pull and push to
 * write, delete to delete, registry:catalog:* for the catalog, and pull on the source of a mount.
 */
export function requiredAccess(
  route: Route,
  method: Method,
  name: string,
  query: Record<string, unknown>,
): Access[] {
  switch (route.id) {
    case 'base':
      return [];
    case 'catalog':
      return [{ type: 'registry', name: 'catalog', actions: ['*'] }];
    case 'upload-start': {
      const from = typeof query.mount === 'string' && typeof query.from === 'string' ? query.from : undefined;
      return [repository(name, 'pull', 'push'), ...(from ? [repository(from, 'pull')] : [])];
    }
    case 'upload':
      return [repository(name, 'pull', 'push')];
    default:
      if (method === 'DELETE') return [repository(name, 'delete')];
      return [method === 'PUT' ? repository(name, 'pull', 'push') : repository(name, 'pull')];
  }
}
