import { type ChildProcess, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

export const REGISTRY_MAIN = resolve(import.meta.dirname, '../../registry/dist/main.js');
/** How each registry is started with a config file. */
export const OURS = [process.execPath, REGISTRY_MAIN, 'serve'];
export const DOCKER_REGISTRY = ['docker-registry', 'serve'];

export const freePort = () =>
  new Promise<number>((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
    });
  });

/**
 * Starts a registry (this one or docker-registry) on its own filesystem store below `dir`, with `extra` config
 * lines, logging errors only; resolves once /v2/ answers `readyStatus` (401 behind auth).
 */
export async function startRegistry(
  dir: string,
  name: string,
  command: string[],
  extra: string[] = [],
  readyStatus = 200,
): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const config = join(dir, `${name}.yml`);
  await writeFile(
    config,
    [
      'version: 0.1',
      'log: { level: error, accesslog: { disabled: true } }',
      `storage: { filesystem: { rootdirectory: ${join(dir, name)} }, delete: { enabled: true } }`,
      `http: { addr: "127.0.0.1:${port}" }`,
      ...extra,
      '',
    ].join('\n'),
  );
  const [program, ...args] = command as [string, ...string[]];
  const child = spawn(program, [...args, config], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`${name}: the server exited (${child.exitCode})`);
    const status = await fetch(`${url}/v2/`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === readyStatus) return { url, child };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${name} did not come up at ${url}`);
}
