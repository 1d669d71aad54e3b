import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * One GET of `/v2/`: whether this is a registry answering (200, or 401 when auth is on, with the API version
 * header), so another server that took the port is never taken for it. TLS is not verified: this is the
 * unit asking itself. node:http rather than fetch: every hook probes, and fetch loads undici first.
 */
function isRegistry(base: string): Promise<boolean> {
  const url = `${base}/v2/`;
  const request = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    // A server that takes the connection and never answers is no registry either.
    const req = request(url, { rejectUnauthorized: false, agent: false, timeout: 5000 }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve(
        (status === 200 || status === 401) &&
          res.headers['docker-distribution-api-version'] === 'registry/2.0',
      );
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Waits until the registry at `base` answers while its service's own process runs; resolves undefined then,
 * or with why it did not (the process's last words when it exited, e.g. the address was in use).
 */
export async function waitForRegistry(
  base: string,
  service: { alive: () => Promise<boolean>; lastWords: () => Promise<string> },
  timeoutMs = 30_000,
): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    const answered = await isRegistry(base).then(
      (ok) => {
        if (!ok) last = 'another server answers there';
        return ok;
      },
      (err: Error & { cause?: { code?: string } }) => {
        last = err.cause?.code ?? (err as { code?: string }).code ?? err.message;
        return false;
      },
    );
    const alive = await service.alive();
    if (answered && alive) return undefined;
    if (!alive) {
      const words = (await service.lastWords())
        .trim()
        .split('\n')
        .at(-1)
        ?.replace(/^registry: /, '');
      return words ? `the process exited: ${words}` : 'the process exited (see its log)';
    }
    await sleep(200);
  }
  return `no answer from a registry at ${base}/v2/ (${last})`;
}
