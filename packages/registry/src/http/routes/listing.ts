import { RegistryError } from '../../errors.js';
import type { Handler, RouteContext } from '../context.js';

const CATALOG_DEFAULT = 100;
const PAGE_MAX = 1000;

/** Parses `n`: absent -> fallback; a non-negative integer, capped at PAGE_MAX (fewer results are allowed). */
function pageSize(ctx: RouteContext, fallback: number | undefined): number | undefined {
  const n = ctx.query.n;
  if (n === undefined || n === '') return fallback;
  if (!/^\d+$/.test(n))
    throw new RegistryError(
      'PAGINATION_NUMBER_INVALID',
      `n must be a non-negative integer, got ${JSON.stringify(n.slice(0, 50))}`,
    );
  return Math.min(Number(n), PAGE_MAX);
}

function link(ctx: RouteContext, path: string, last: string, n: number): string {
  const query = new URLSearchParams({ last, n: String(n) });
  return `<${ctx.url(`${path}?${query}`)}>; rel="next"`;
}

export const base: Handler = async (ctx) => {
  ctx.reply.header('content-type', 'application/json; charset=utf-8').send('{}');
};

export const listTags: Handler = async (ctx) => {
  const n = pageSize(ctx, undefined);
  const last = ctx.query.last;
  // One more than asked tells whether another page follows.
  let tags = ctx.options.proxy
    ? (await ctx.options.proxy.tags(ctx.name)).filter((t) => last === undefined || t > last)
    : await ctx.registry.tags.page(ctx.name, n === undefined ? Number.POSITIVE_INFINITY : n + 1, last);
  if (n !== undefined && tags.length > n) {
    tags = tags.slice(0, n);
    const lastTag = tags[tags.length - 1];
    if (lastTag !== undefined) ctx.reply.header('link', link(ctx, `/v2/${ctx.name}/tags/list`, lastTag, n));
  }
  ctx.reply
    .header('content-type', 'application/json; charset=utf-8')
    .send(JSON.stringify({ name: ctx.name, tags }));
};

export const catalog: Handler = async (ctx) => {
  const n = pageSize(ctx, CATALOG_DEFAULT) as number;
  const last = ctx.query.last || undefined;
  // One more than asked tells whether another page follows.
  const found = n === 0 ? [] : await ctx.registry.repositories(n + 1, last);
  const repositories = found.slice(0, n);
  const lastRepo = repositories[repositories.length - 1];
  if (found.length > n && lastRepo !== undefined)
    ctx.reply.header('link', link(ctx, '/v2/_catalog', lastRepo, n));
  ctx.reply.header('content-type', 'application/json; charset=utf-8').send(JSON.stringify({ repositories }));
};
