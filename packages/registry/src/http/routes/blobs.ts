import type { BlobDescriptor } from '../../content/blobs.js';
import type { UploadStatus } from '../../content/uploads.js';
import { RegistryError } from '../../errors.js';
import { Digest, parseName } from '../../reference.js';
import { hasBody } from '../body.js';
import type { Handler, RouteContext } from '../context.js';
import { BLOB_MEDIA_TYPE } from '../events.js';
import { parseContentRange, parseRange } from '../range.js';

const digestParam = (ctx: RouteContext, key: string) => {
  const value = ctx.params[key] ?? ctx.query[key];
  if (value === undefined) throw new RegistryError('DIGEST_INVALID', `the ${key} parameter is required`);
  return Digest.parse(value);
};

/** GET/HEAD a blob, with Range support. Manifests are blobs too, reachable through their revision. */
export const getBlob: Handler = async (ctx) => {
  const { registry, name, reply, request } = ctx;
  const digest = digestParam(ctx, 'digest');
  // The data first: a blob not in the registry at all (what every push asks before uploading) costs one stat.
  const stored = await registry.blobs.statGlobal(digest);
  let found =
    stored && ((await registry.blobs.linked(name, digest)) || (await registry.manifests.exists(name, digest)))
      ? stored
      : undefined;
  if (!found && ctx.options.proxy) {
    // Not cached yet: fetched from upstream, streamed to this client while it is stored.
    reply.header('docker-content-digest', `${digest}`).header('content-type', 'application/octet-stream');
    found = await ctx.options.proxy.blob(name, digest, (size) => {
      reply.hijack();
      if (Number.isFinite(size)) reply.header('content-length', size);
      reply.raw.writeHead(200, reply.getHeaders() as Record<string, string>);
      if (request.method === 'HEAD') reply.raw.end();
      return reply.raw;
    });
    if (!found)
      return ctx.notify('pull', () => ({
        mediaType: BLOB_MEDIA_TYPE,
        digest: `${digest}`,
        url: ctx.url(`/v2/${name}/blobs/${digest}`),
      }));
  }
  if (!found)
    throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} unknown to repository ${name}`, {
      digest: `${digest}`,
    });
  reply.header('docker-content-digest', `${digest}`).header('etag', `"${digest}"`);
  reply.header('cache-control', 'max-age=31536000').header('accept-ranges', 'bytes');
  if (ctx.options.redirect) {
    const location = await registry.blobs.redirectURL(digest, request.method === 'HEAD' ? 'HEAD' : 'GET');
    if (location) return void reply.code(307).header('location', location).send();
  }
  let range: { start: number; end: number } | undefined;
  try {
    range = parseRange(request.headers.range, found.size);
  } catch (err) {
    reply.header('content-range', `bytes */${found.size}`);
    throw err;
  }
  reply.header('content-type', 'application/octet-stream');
  const start = range?.start ?? 0;
  const length = range ? range.end - range.start + 1 : found.size;
  reply.header('content-length', length);
  if (range) reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${found.size}`);
  // distribution counts a HEAD as a pull too.
  ctx.notify('pull', () => blobTarget(ctx, found));
  if (request.method === 'HEAD') return void reply.send();
  // The body is written straight to the socket, so the driver can reuse its buffers (see copyTo); fastify's
  // onResponse hooks (access log, metrics) still run when the response finishes.
  reply.hijack();
  reply.raw.writeHead(reply.statusCode, reply.getHeaders() as Record<string, string>);
  try {
    await registry.blobs.sendTo(digest, reply.raw, start, start + length - 1);
    reply.raw.end();
  } catch (err) {
    // Headers are gone already: all that is left is to cut the connection so the client sees a short body.
    request.log.warn({ err, digest: `${digest}` }, 'blob transfer ended early');
    reply.raw.destroy();
  }
};

export const deleteBlob: Handler = async (ctx) => {
  const digest = digestParam(ctx, 'digest');
  await ctx.registry.blobs.unlink(ctx.name, digest);
  ctx.notify('delete', () => ({ digest: `${digest}` }));
  ctx.reply.code(202).header('content-length', 0).send();
};

const uploadPath = (name: string, id: string) => `/v2/${name}/blobs/uploads/${id}`;

function sendUploadStatus(ctx: RouteContext, status: UploadStatus, code: number): void {
  ctx.reply
    .code(code)
    .header('location', ctx.url(uploadPath(ctx.name, status.id)))
    .header('range', `0-${Math.max(0, status.size - 1)}`)
    .header('docker-upload-uuid', status.id)
    .header('content-length', 0)
    .send();
}

const blobTarget = (ctx: RouteContext, blob: BlobDescriptor) => ({
  mediaType: BLOB_MEDIA_TYPE,
  size: blob.size,
  digest: `${blob.digest}`,
  length: blob.size,
  url: ctx.url(`/v2/${ctx.name}/blobs/${blob.digest}`),
});

function sendBlobCreated(ctx: RouteContext, blob: BlobDescriptor, from?: string): void {
  if (from === undefined) ctx.notify('push', () => blobTarget(ctx, blob));
  else ctx.notify('mount', () => ({ ...blobTarget(ctx, blob), fromRepository: from }));
  ctx.reply
    .code(201)
    .header('location', ctx.url(`/v2/${ctx.name}/blobs/${blob.digest}`))
    .header('docker-content-digest', `${blob.digest}`)
    .header('content-length', 0)
    .send();
}

/** POST: cross-repository mount, monolithic upload (?digest=), or the start of a chunked/streamed upload. */
export const startUpload: Handler = async (ctx) => {
  const { registry, name, query, request } = ctx;
  if (query.mount !== undefined) {
    const digest = Digest.parse(query.mount);
    const from = query.from === undefined ? undefined : parseName(query.from);
    const mounted = await registry.blobs.mount(name, digest, from);
    if (mounted) return sendBlobCreated(ctx, mounted, from ?? '');
  }
  if (query.digest !== undefined) {
    const digest = Digest.parse(query.digest);
    const upload = await registry.uploads.start(name);
    return sendBlobCreated(ctx, await registry.uploads.commit(name, upload.id, digest, request.raw));
  }
  sendUploadStatus(ctx, await registry.uploads.start(name), 202);
};

/** Adds the upload's state to a RANGE_INVALID answer, so the client can resume from the right offset. */
async function withRangeState<T>(ctx: RouteContext, id: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof RegistryError && err.code === 'RANGE_INVALID') {
      const status = await ctx.registry.uploads.status(ctx.name, id).catch(() => undefined);
      if (status) {
        ctx.reply
          .header('location', ctx.url(uploadPath(ctx.name, id)))
          .header('range', `0-${Math.max(0, status.size - 1)}`)
          .header('docker-upload-uuid', id);
      }
    }
    throw err;
  }
}

function chunkRange(ctx: RouteContext) {
  const range = parseContentRange(ctx.request.headers['content-range']);
  const length = ctx.request.headers['content-length'];
  if (range && length !== undefined && Number(length) !== range.end - range.start + 1) {
    throw new RegistryError(
      'RANGE_INVALID',
      `Content-Range ${range.start}-${range.end} does not match Content-Length ${length}`,
    );
  }
  return range;
}

export const patchUpload: Handler = async (ctx) => {
  const id = ctx.params.id as string;
  const status = await withRangeState(ctx, id, () =>
    ctx.registry.uploads.append(ctx.name, id, ctx.request.raw, chunkRange(ctx)),
  );
  sendUploadStatus(ctx, status, 202);
};

export const putUpload: Handler = async (ctx) => {
  const id = ctx.params.id as string;
  const digest = digestParam(ctx, 'digest');
  const body = hasBody(ctx.request.raw) ? ctx.request.raw : undefined;
  const blob = await withRangeState(ctx, id, () =>
    ctx.registry.uploads.commit(ctx.name, id, digest, body, body && chunkRange(ctx)),
  );
  sendBlobCreated(ctx, blob);
};

export const getUpload: Handler = async (ctx) => {
  sendUploadStatus(ctx, await ctx.registry.uploads.status(ctx.name, ctx.params.id as string), 204);
};

export const cancelUpload: Handler = async (ctx) => {
  await ctx.registry.uploads.cancel(ctx.name, ctx.params.id as string);
  ctx.reply.code(204).header('content-length', 0).send();
};
