import { type AccessController, AuthFailure } from '@regop/auth/access';
import { FailureLimiter } from '@regop/auth/limiter';
import { parseName, parseReference, type Registry, RegistryError } from '@regop/registry';
import { BackendUnavailableError } from '@regop/storage';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { IssuerUnavailable, SessionExpired, TokenClient, type TokenSignIn, Viewer } from './access.js';
import { ASSETS } from './assets.js';
import { validHost } from './commands.js';
import { type RepositoryRow, UiContent } from './content.js';
import { href, html, type Part } from './html.js';
import { imageBody } from './pages/image.js';
import { page, type UiStatus } from './pages/layout.js';
import { MAX_NAME_SHOWN, repositoriesBody, repositoryBody } from './pages/lists.js';
import { problemBody, signInBody } from './pages/misc.js';

export interface RegistryUiOptions {
  registry: Registry;
  /** Where the UI is served, e.g. /ui. */
  path: string;
  title: string;
  status: UiStatus;
  /** The API's access controller: every page asks it, as the API would, before reading anything. */
  accessController?: AccessController;
  /** With token auth: the issuer users sign in with (the session is its refresh token, in a cookie). */
  signIn?: TokenSignIn;
  /** http.host: the registry's public URL, for pull commands. */
  host?: string;
  /** http.relativeurls: a proxy in front names the host (X-Forwarded-Host/-Proto are believed). */
  trustForwarded?: boolean;
}

/** Rows per page of repositories and of tags. */
export const PAGE_SIZE = 50;
/**
 * Catalog names read per step of the repositories page: one more than a page shows whether there is a next,
 * and a search reads wider steps. At most CATALOG_SCAN names are read per request before it offers "Next".
 */
const CATALOG_STEP = PAGE_SIZE + 1;
const SEARCH_STEP = 200;
const CATALOG_SCAN = 2_000;
const SESSION_COOKIE = 'regop_ui_session';
/** Failed sign-ins per client: fewer than the issuer's own per-address budget (10, then 10 a minute). */
const SIGN_IN_LIMIT = { burst: 5, perMinute: 5 };
const SESSION_SECONDS = 24 * 60 * 60;

/** No inline script or style, no framing, nothing fetched from elsewhere: a hostile value cannot run. */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
};

const first = (value: string | string[] | undefined) =>
  (Array.isArray(value) ? value[0] : value)?.split(',')[0]?.trim();

/** One cookie's value (a dependency for one cookie would be more code than this). */
function cookie(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/**
 * The registry's web UI as an encapsulated fastify plugin: server-rendered, read-only pages of repositories,
 * tags, images and referrers. Every page reads only what it shows, through the content model.
 */
export async function registryUi(fastify: FastifyInstance, options: RegistryUiOptions): Promise<void> {
  const root = options.path;
  const content = new UiContent(options.registry);
  const tokens = options.signIn && new TokenClient(options.signIn);

  const protocolOf = (request: FastifyRequest) =>
    options.host
      ? new URL(options.host).protocol.replace(':', '')
      : (options.trustForwarded && first(request.headers['x-forwarded-proto'])) || request.protocol;
  const hostOf = (request: FastifyRequest) => {
    if (options.host) return new URL(options.host).host;
    const host =
      (options.trustForwarded && first(request.headers['x-forwarded-host'])) || request.headers.host;
    return validHost(host) ? host : 'localhost';
  };
  const viewerOf = (request: FastifyRequest) =>
    new Viewer(
      { headers: request.headers, address: request.ip, protocol: request.protocol },
      options.accessController,
      tokens && { client: tokens, session: cookie(request, SESSION_COOKIE) },
    );

  fastify.addHook('onRequest', (request, reply, done) => {
    request.registryRoute = 'ui';
    reply.headers(SECURITY_HEADERS);
    done();
  });
  fastify.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 16 * 1024 },
    (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );

  interface Shown {
    status?: number;
    crumbs?: { label: string; href?: string }[];
    heading: Part;
    pageTitle: string;
    body: Part;
  }
  const send = (request: FastifyRequest, reply: FastifyReply, viewer: Viewer | undefined, shown: Shown) =>
    reply
      .code(shown.status ?? 200)
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(
        page({
          root,
          title: options.title,
          status: options.status,
          ...(viewer?.user && { user: viewer.user }),
          ...(tokens && viewer && { session: viewer.signedIn ? 'signed-in' : 'anonymous' }),
          here: request.url,
          crumbs: [{ label: 'Repositories', href: root }, ...(shown.crumbs ?? [])],
          heading: shown.heading,
          pageTitle: shown.pageTitle,
          body: shown.body,
        }),
      );
  const sessionCookie = (request: FastifyRequest, value: string, maxAge: number) =>
    `${SESSION_COOKIE}=${encodeURIComponent(value)}; Path=${root}; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${protocolOf(request) === 'https' ? '; Secure' : ''}`;
  /** Only a page of this UI is a place to return to after signing in. */
  const safeNext = (next: unknown) =>
    typeof next === 'string' &&
    (next === root || next.startsWith(`${root}/`) || next.startsWith(`${root}?`)) &&
    // Printable ASCII only, no backslash: what a Location header may carry, and no way off this site.
    /^[\x21-\x5b\x5d-\x7e]+$/.test(next)
      ? next
      : root;

  fastify.setErrorHandler(async (error, request, reply) => {
    const viewer = (request as FastifyRequest & { viewer?: Viewer }).viewer;
    if (error instanceof SessionExpired) {
      reply.header('set-cookie', sessionCookie(request, '', 0));
      return reply.redirect(`${root}/sign-in?${new URLSearchParams({ next: request.url })}`, 303);
    }
    if (error instanceof AuthFailure) {
      if (error.retryAfterSeconds) reply.header('retry-after', error.retryAfterSeconds);
      if (tokens && error.status === 401 && !viewer?.signedIn)
        return send(request, reply, viewer, {
          status: 401,
          heading: 'Sign in',
          pageTitle: 'Sign in',
          body: signInBody(root, safeNext(request.url), 'Sign in to see this page.'),
        });
      if (error.status === 401 && error.challenge && !tokens)
        reply.header('www-authenticate', error.challenge);
      const status = tokens && error.status === 401 ? 403 : error.status;
      return send(request, reply, viewer, {
        status,
        heading:
          status === 429
            ? 'Too many attempts'
            : status === 503
              ? 'Unavailable'
              : status === 401
                ? 'Sign-in required'
                : 'Not allowed',
        pageTitle: 'Not allowed',
        body: problemBody(status === 403 ? `${viewer?.user ?? 'You'} may not see this page.` : error.message),
      });
    }
    if (error instanceof RegistryError && error.status < 500) {
      const status = error.code === 'NAME_INVALID' || error.code === 'TAG_INVALID' ? 404 : error.status;
      return send(request, reply, viewer, {
        status,
        heading: status === 404 ? 'Not found' : 'Bad request',
        pageTitle: 'Not found',
        body: problemBody(error.message.slice(0, MAX_NAME_SHOWN * 2)),
      });
    }
    const clientError = (error as { statusCode?: number }).statusCode;
    if (clientError !== undefined && clientError >= 400 && clientError < 500)
      return send(request, reply, viewer, {
        status: clientError,
        heading: 'Bad request',
        pageTitle: 'Bad request',
        body: problemBody(String((error as Error).message).slice(0, 300)),
      });
    const unavailable = error instanceof IssuerUnavailable || error instanceof BackendUnavailableError;
    request.log.error({ err: error }, unavailable ? 'ui: a backend is unavailable' : 'ui: unexpected error');
    return send(request, reply, viewer, {
      status: unavailable ? 503 : 500,
      heading: unavailable ? 'Unavailable' : 'Something went wrong',
      pageTitle: 'Error',
      body: problemBody(
        error instanceof IssuerUnavailable
          ? error.message
          : unavailable
            ? 'The storage backend is unavailable; try again shortly.'
            : 'The registry could not show this page; its log says why.',
      ),
    });
  });
  const track = (request: FastifyRequest, viewer: Viewer) => {
    (request as FastifyRequest & { viewer?: Viewer }).viewer = viewer;
    return viewer;
  };

  const repositories = async (request: FastifyRequest, reply: FastifyReply) => {
    const query = request.query as { q?: string; last?: string };
    const q = (typeof query.q === 'string' ? query.q : '').trim().slice(0, 255);
    const needle = q.toLowerCase();
    const viewer = track(request, viewerOf(request));
    await viewer.authenticate();
    // The catalog's own paging, from `last`: never the whole catalog per request.
    let cursor = typeof query.last === 'string' && query.last ? query.last : undefined;
    const names: string[] = [];
    let scanned = 0;
    let more = true;
    while (names.length < PAGE_SIZE && scanned < CATALOG_SCAN) {
      const step = needle ? SEARCH_STEP : CATALOG_STEP;
      const batch = await content.catalog(step, cursor);
      scanned += batch.length;
      if (batch.length < step) more = false;
      const candidates = needle ? batch.filter((n) => n.toLowerCase().includes(needle)) : batch;
      const refused = await viewer.pull(candidates);
      let taken = batch.length ? (batch[batch.length - 1] as string) : cursor;
      for (const [i, name] of candidates.entries()) {
        if (refused[i]) continue;
        names.push(name);
        if (names.length === PAGE_SIZE) {
          taken = name;
          if (name !== batch[batch.length - 1]) more = true;
          break;
        }
      }
      cursor = taken;
      if (!more) break;
    }
    const rows: RepositoryRow[] = await Promise.all(names.map((n) => content.repositoryRow(n)));
    return send(request, reply, viewer, {
      crumbs: [],
      heading: q ? html`Repositories matching “${q}”` : 'Repositories',
      pageTitle: 'Repositories',
      body: repositoriesBody(root, rows, q, more ? cursor : undefined),
    });
  };
  fastify.get(root, repositories);
  fastify.get(`${root}/`, repositories);

  fastify.get(`${root}/assets/:file`, async (request, reply) => {
    const { file } = request.params as { file: string };
    const found = Object.values(ASSETS).find((a) => a.name === file);
    if (!found)
      return send(request, reply, undefined, {
        status: 404,
        heading: 'Not found',
        pageTitle: 'Not found',
        body: '',
      });
    reply.header('etag', found.etag).header('cache-control', 'public, max-age=31536000, immutable');
    if (request.headers['if-none-match'] === found.etag) return reply.code(304).send();
    return reply.header('content-type', found.type).send(found.body);
  });

  fastify.get(`${root}/repositories/*`, async (request, reply) => {
    const rest = (request.params as { '*': string })['*'];
    const viewer = track(request, viewerOf(request));
    const [rawName, kind, reference] = splitPath(rest);
    const name = parseName(rawName);
    // The API's order: access first, so a repository one may not pull answers the same whether it exists or not.
    await viewer.require(name);
    const repoCrumb = { label: name, href: href(root, ['repositories', name]) };
    if (kind === 'manifest') {
      const ref = parseReference(reference);
      const detail = await content.manifest(name, ref);
      const referrers = await content.referrers(name, detail.digest);
      return send(request, reply, viewer, {
        crumbs: [repoCrumb],
        heading: html`${name}<span class="muted">${reference.includes(':') ? '@' : ':'}${reference}</span>`,
        pageTitle: `${name}${reference.includes(':') ? '@' : ':'}${reference}`,
        body: imageBody({
          root,
          name,
          reference,
          detail,
          referrers,
          host: hostOf(request),
          insecure: protocolOf(request) === 'http',
        }),
      });
    }
    if (kind === 'blob') {
      const { size } = await content.blob(name, reference);
      reply.hijack();
      reply.raw.writeHead(200, {
        ...SECURITY_HEADERS,
        'content-type': 'application/octet-stream',
        'content-length': size,
        'content-disposition': `attachment; filename="${reference.replace(':', '-')}"`,
        'cache-control': 'no-store',
      });
      try {
        await content.sendBlob(reference, reply.raw, size);
        reply.raw.end();
      } catch (err) {
        request.log.error({ err }, 'ui: sending a layer failed');
        reply.raw.destroy();
      }
      return;
    }
    const query = request.query as { q?: string; page?: string };
    const q = (typeof query.q === 'string' ? query.q : '').trim().slice(0, 128);
    const tags = await content.tags(name);
    const matching = q ? tags.filter((t) => t.tag.toLowerCase().includes(q.toLowerCase())) : tags;
    const pages = Math.max(1, Math.ceil(matching.length / PAGE_SIZE));
    const pageNo = Math.min(pages, Math.max(1, Number.parseInt(query.page ?? '1', 10) || 1));
    const visible = matching.slice((pageNo - 1) * PAGE_SIZE, pageNo * PAGE_SIZE);
    const rows = await Promise.all(visible.map((t) => content.tagRow(name, t)));
    return send(request, reply, viewer, {
      crumbs: [],
      heading: name,
      pageTitle: name,
      body: repositoryBody({
        root,
        name,
        rows,
        total: tags.length,
        matching: matching.length,
        q,
        page: pageNo,
        pageSize: PAGE_SIZE,
        host: hostOf(request),
        insecure: protocolOf(request) === 'http',
      }),
    });
  });

  if (!tokens) return;
  const signInFailures = new FailureLimiter(SIGN_IN_LIMIT);
  /**
   * A form posted from another site is refused: a browser names the page's origin in Origin, which must be
   * this site as the browser reached it (directly, or by the name a trusted proxy in front forwards).
   */
  const sameOrigin = (request: FastifyRequest) => {
    const origin = request.headers.origin;
    if (origin === undefined) return true;
    try {
      const { host, protocol } = new URL(origin);
      return (
        protocol === `${protocolOf(request)}:` && (host === request.headers.host || host === hostOf(request))
      );
    } catch {
      return false;
    }
  };
  fastify.get(`${root}/sign-in`, async (request, reply) =>
    send(request, reply, undefined, {
      heading: 'Sign in',
      pageTitle: 'Sign in',
      body: signInBody(root, safeNext((request.query as { next?: string }).next)),
    }),
  );
  fastify.post(`${root}/sign-in`, async (request, reply) => {
    const form = (request.body ?? {}) as Record<string, string | undefined>;
    const next = safeNext(form.next);
    if (!sameOrigin(request))
      return send(request, reply, undefined, {
        status: 403,
        heading: 'Not allowed',
        pageTitle: 'Sign in',
        body: problemBody('A sign-in must come from this site.'),
      });
    // The issuer sees every sign-in through the UI as coming from this registry, so the UI limits each
    // client's failures itself, below the issuer's own budget, before passing them on.
    const wait = signInFailures.waitMs(request.ip);
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      throw new AuthFailure(
        'TOOMANYREQUESTS',
        `too many failed sign-ins; try again in ${seconds}s`,
        undefined,
        seconds,
      );
    }
    const session =
      form.username && form.password ? await tokens.signIn(form.username, form.password) : undefined;
    if (!session) signInFailures.fail(request.ip);
    if (!session)
      return send(request, reply, undefined, {
        status: 401,
        heading: 'Sign in',
        pageTitle: 'Sign in',
        body: signInBody(root, next, 'Wrong user name or password.'),
      });
    reply.header('set-cookie', sessionCookie(request, session, SESSION_SECONDS));
    return reply.redirect(next, 303);
  });
  fastify.post(`${root}/sign-out`, async (request, reply) => {
    if (!sameOrigin(request))
      return send(request, reply, undefined, {
        status: 403,
        heading: 'Not allowed',
        pageTitle: 'Sign out',
        body: '',
      });
    reply.header('set-cookie', sessionCookie(request, '', 0));
    return reply.redirect(root, 303);
  });
}

/**
 * `<name>`, `<name>/_manifests/<reference>` or `<name>/_blobs/<digest>`: a name's components never start with
 * `_`, so the separators cannot be part of one.
 */
function splitPath(rest: string): [string, 'repository' | 'manifest' | 'blob', string] {
  for (const [marker, kind] of [
    ['/_manifests/', 'manifest'],
    ['/_blobs/', 'blob'],
  ] as const) {
    const at = rest.indexOf(marker);
    if (at > 0) return [rest.slice(0, at), kind, rest.slice(at + marker.length)];
  }
  return [rest.replace(/\/+$/, ''), 'repository', ''];
}
