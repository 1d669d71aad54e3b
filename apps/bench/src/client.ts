import { createHash } from 'node:crypto';
import { Agent, request } from 'node:http';
import { Readable } from 'node:stream';
import { mapLimited } from '@regop/storage';

const agent = new Agent({ keepAlive: true, maxSockets: 128 });

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One HTTP request on a keep-alive agent; `keepBody: false` drains the body without holding it. */
export function send(
  method: string,
  url: string,
  options: { headers?: Record<string, string | number>; body?: Buffer | Readable; keepBody?: boolean } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent, headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        if (options.keepBody !== false) chunks.push(c);
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options.body instanceof Readable) options.body.pipe(req);
    else req.end(options.body);
  });
}

/** Milliseconds of one request, checked to answer 200. */
export async function timedRequest(
  method: 'GET' | 'HEAD',
  url: string,
  headers: Record<string, string> = {},
): Promise<number> {
  const started = process.hrtime.bigint();
  await expectStatus(send(method, url, { headers }), 200, `${method} ${url}`);
  return Number(process.hrtime.bigint() - started) / 1e6;
}

export const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

export async function expectStatus(reply: Promise<Reply>, status: number, what: string): Promise<Reply> {
  const r = await reply;
  if (r.status !== status) throw new Error(`${what}: HTTP ${r.status} ${r.body.toString().slice(0, 300)}`);
  return r;
}

export const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const location = (base: string, r: Reply) => new URL(r.headers.location as string, base).toString();

/** Monolithic push as docker and skopeo do it: POST, then PUT with the whole body. */
export async function pushMonolithic(
  base: string,
  repo: string,
  blob: Buffer,
  digest: string,
): Promise<void> {
  const post = await expectStatus(send('POST', `${base}/v2/${repo}/blobs/uploads/`), 202, 'POST upload');
  const url = new URL(location(base, post));
  url.searchParams.set('digest', digest);
  await expectStatus(
    send('PUT', url.toString(), {
      body: blob,
      headers: { 'content-type': 'application/octet-stream', 'content-length': blob.length },
    }),
    201,
    'PUT blob',
  );
}

/** Chunked push: PATCHes of `chunk` bytes with Content-Range, then an empty PUT. */
export async function pushChunked(
  base: string,
  repo: string,
  blob: Buffer,
  digest: string,
  chunk: number,
): Promise<void> {
  let next = location(
    base,
    await expectStatus(send('POST', `${base}/v2/${repo}/blobs/uploads/`), 202, 'POST upload'),
  );
  for (let start = 0; start < blob.length; start += chunk) {
    const part = blob.subarray(start, start + chunk);
    const r = await expectStatus(
      send('PATCH', next, {
        body: part,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': part.length,
          'content-range': `${start}-${start + part.length - 1}`,
        },
      }),
      202,
      'PATCH chunk',
    );
    next = location(base, r);
  }
  const url = new URL(next);
  url.searchParams.set('digest', digest);
  await expectStatus(send('PUT', url.toString()), 201, 'PUT digest');
}

export function digestOfRepeated(block: Buffer, size: number): string {
  const hash = createHash('sha256');
  for (let sent = 0; sent < size; sent += block.length)
    hash.update(block.subarray(0, Math.min(block.length, size - sent)));
  return `sha256:${hash.digest('hex')}`;
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` at once. */
export async function pool(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  await mapLimited(
    Array.from({ length: count }, (_, i) => i),
    task,
    concurrency,
  );
}
