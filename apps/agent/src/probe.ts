import { request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';

/** One GET of the registry's `/`: its status, or the error. TLS is not verified: this is the unit asking itself. */
function probe(url: string): Promise<number> {
  if (url.startsWith('http:')) return fetch(url).then((r) => r.status);
  return new Promise((resolve, reject) => {
    const req = request(url, { rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Waits until the registry answers; resolves undefined then, or with why it did not. */
export async function waitForRegistry(
  url: string,
  alive: () => Promise<boolean>,
  timeoutMs = 30_000,
): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      if ((await probe(url)) === 200) return undefined;
    } catch (err) {
      last = (err as { code?: string }).code ?? (err as Error).message;
    }
    if (!(await alive())) return 'the process exited (see its log)';
    await sleep(200);
  }
  return `no answer at ${url} (${last})`;
}
