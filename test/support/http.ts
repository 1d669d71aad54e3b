import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { connect } from 'node:net';
import { MediaType } from '@regop/registry';
import { repeatStream } from '@regop/storage';

export const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
export { randomBytes };

/** Pushes a blob the way docker and skopeo do: POST, then PUT with the body. */
export async function pushBlob(base: string, repo: string, content: Buffer): Promise<Response> {
  const post = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  if (post.status !== 202) throw new Error(`POST ${repo}: ${post.status} ${await post.text()}`);
  const location = new URL(post.headers.get('location') as string, base);
  location.searchParams.set('digest', sha256(content));
  return fetch(location, {
    method: 'PUT',
    body: content,
    headers: { 'content-type': 'application/octet-stream' },
  });
}

/**
 * Sends raw bytes and returns the status line's code. A server that refuses a request early may close
 * while bytes are still coming, which the client sees as a reset: `reset` says so.
 */
export function rawRequest(
  base: string,
  text: string,
): Promise<{ status: number; response: string; reset: boolean }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.end(text));
    let response = '';
    let reset = false;
    socket.on('data', (d) => {
      response += d;
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') reset = true;
      else reject(err);
    });
    socket.on('close', () =>
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0), response, reset }),
    );
  });
}

/** Starts a PATCH whose body the caller writes piece by piece (to interrupt it mid-way). */
export function openPatch(url: string, headers: Record<string, string> = {}) {
  const req = request(url, {
    method: 'PATCH',
    headers: { 'content-type': 'application/octet-stream', ...headers },
  });
  const response = new Promise<{ status: number; headers: Record<string, unknown> }>((resolve, reject) => {
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
  });
  return { req, response };
}

/**
 * Pushes `size` bytes made by repeating one random MiB as a single streamed PUT (never held in memory),
 * returning the PUT's status and the blob's digest.
 */
export async function pushLargeBlob(
  base: string,
  repo: string,
  size: number,
  headers: Record<string, string> = {},
) {
  const block = randomBytes(1024 * 1024);
  const hash = createHash('sha256');
  for (let sent = 0; sent < size; sent += block.length) hash.update(block.subarray(0, size - sent));
  const digest = `sha256:${hash.digest('hex')}`;
  const post = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers });
  const location = new URL(post.headers.get('location') as string, base);
  location.searchParams.set('digest', digest);
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(location, {
      method: 'PUT',
      headers: { ...headers, 'content-type': 'application/octet-stream', 'content-length': size },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    repeatStream(block, size).pipe(req);
  });
  return { status, digest };
}

/** The sha256 digest of a blob pulled from a registry (following redirects), streamed. */
export async function pullDigest(base: string, repo: string, digest: string): Promise<string> {
  const res = await fetch(`${base}/v2/${repo}/blobs/${digest}`);
  if (res.status !== 200 || !res.body) throw new Error(`GET blob: ${res.status}`);
  const hash = createHash('sha256');
  for await (const chunk of res.body) hash.update(chunk);
  return `sha256:${hash.digest('hex')}`;
}

/** A tiny image a client pushes as skopeo would: HEAD each blob, upload what is missing, then the manifest. */
export async function pushImage(base: string, repo: string, tag: string, layers: Buffer[]): Promise<string> {
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: layers.map(sha256) },
      tag,
    }),
  );
  for (const blob of [config, ...layers]) {
    const digest = sha256(blob);
    if ((await fetch(`${base}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' })).status === 200) continue;
    const post = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    // distribution's upload URLs carry their state in the query already.
    const location = new URL(post.headers.get('location') as string, base);
    location.searchParams.set('digest', digest);
    const put = await fetch(location, {
      method: 'PUT',
      body: blob,
    });
    if (put.status !== 201) throw new Error(`blob PUT ${put.status}: ${await put.text()}`);
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: sha256(config),
      size: config.length,
    },
    layers: layers.map((l) => ({
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      digest: sha256(l),
      size: l.length,
    })),
  });
  const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    body: manifest,
    headers: { 'content-type': MediaType.ociManifest },
  });
  if (res.status !== 201) throw new Error(`manifest PUT ${res.status}: ${await res.text()}`);
  return sha256(manifest);
}
