import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { freePort, type Server, type Swift, startServer } from '@regop/peers';

export const REGISTRY_MAIN = resolve(import.meta.dirname, '../../registry/dist/main.js');
/** How each registry is started with a config file. */
export const OURS = [process.execPath, REGISTRY_MAIN, 'serve'];
export const DOCKER_REGISTRY = ['docker-registry', 'serve'];

export type Backend = 'filesystem' | 's3' | 'swift';

/**
 * The storage section for a registry named `name`: its own directory below `dir`, or its own container on the
 * test Swift (through its Swift API, or its S3 API where containers are buckets). Blob pulls are not redirected
 * to the store, so both registries serve every byte they are measured on.
 */
export function storageConfig(backend: Backend, dir: string, name: string, swift?: Swift): string {
  const common = 'delete: { enabled: true }, redirect: { disable: true }';
  if (backend === 'filesystem' || !swift)
    return `storage: { filesystem: { rootdirectory: ${join(dir, name)} }, ${common} }`;
  if (backend === 'swift')
    return `storage: { swift: { authurl: "${swift.authUrl}", username: "${swift.user}", password: "${swift.key}", container: bench-${name} }, ${common} }`;
  // distribution 2.8's s3 driver takes path-style addressing from regionendpoint; ours is told.
  const pathStyle = name.startsWith('ours') ? ', forcepathstyle: true' : '';
  return `storage: { s3: { region: us-east-1, regionendpoint: "${swift.s3Endpoint}", bucket: bench-${name}, accesskey: "${swift.user}", secretkey: "${swift.key}"${pathStyle} }, ${common} }`;
}

/** Makes the bucket an S3 registry needs (a container, to s3api) through the Swift API. */
export async function createBucket(swift: Swift, bucket: string): Promise<void> {
  const auth = await fetch(swift.authUrl, {
    headers: { 'x-auth-user': swift.user, 'x-auth-key': swift.key },
  });
  const put = await fetch(`${auth.headers.get('x-storage-url')}/${bucket}`, {
    method: 'PUT',
    headers: { 'x-auth-token': auth.headers.get('x-auth-token') ?? '' },
  });
  if (put.status >= 300) throw new Error(`creating bucket ${bucket}: HTTP ${put.status}`);
}

export interface StartedRegistry {
  url: string;
  server: Server;
  /** From the process's spawn to its first answer on /v2/. */
  startSeconds: number;
}

export interface RegistryOptions {
  /** More config sections, one per line. */
  extra?: string[];
  /** What /v2/ answers once the registry is up: 401 behind auth. */
  readyStatus?: number;
  /** The storage section (default: a directory of its own, see storageConfig). */
  storage?: string;
  /** Keep the access log (read through `server.output()`) instead of logging errors only. */
  accessLog?: boolean;
}

/**
 * Starts a registry (this one or docker-registry) with `options`; resolves once /v2/ answers, probing every
 * 5 ms to time the start.
 */
export async function startRegistry(
  dir: string,
  name: string,
  command: string[],
  options: RegistryOptions = {},
): Promise<StartedRegistry> {
  const {
    extra = [],
    readyStatus = 200,
    storage = storageConfig('filesystem', dir, name),
    accessLog,
  } = options;
  const port = await freePort();
  const config = join(dir, `${name}.yml`);
  await writeFile(
    config,
    [
      'version: 0.1',
      `log: { level: error, accesslog: { disabled: ${!accessLog} } }`,
      storage,
      `http: { addr: "127.0.0.1:${port}" }`,
      ...extra,
      '',
    ].join('\n'),
  );
  const [program, ...args] = command as [string, ...string[]];
  const url = `http://127.0.0.1:${port}`;
  const started = process.hrtime.bigint();
  const server = await startServer(program, [...args, config], {
    url,
    name,
    output: accessLog ? 'keep' : 'ignore',
    pollMs: 5,
    // The sandbox's CA bundle variable makes distribution's S3 client fail to start; nothing here is TLS.
    env: { AWS_CA_BUNDLE: undefined },
    ready: async () => (await fetch(`${url}/v2/`)).status === readyStatus,
  });
  return { url, server, startSeconds: Number(process.hrtime.bigint() - started) / 1e9 };
}
