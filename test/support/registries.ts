import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { freePort, type Server, startServer } from '@regop/peers';
import { execa } from 'execa';
import { parse, stringify } from 'yaml';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');
export const REGISTRY_MAIN = join(REPO_ROOT, 'apps/registry/dist/main.js');

export interface RegistryOptions {
  /** Storage root (filesystem driver). */
  root: string;
  /** A storage driver section instead of the filesystem at `root` (e.g. `{ s3: {...} }`). */
  storage?: Record<string, unknown>;
  /** Directory for the config file. */
  dir: string;
  deleteEnabled?: boolean;
  /** Extra top-level config sections merged in. */
  extra?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  /** Readiness: a path that answers below 500 (default /v2/), or a probe of the port. */
  readyPath?: string;
  ready?: (port: number) => Promise<boolean>;
}

async function writeConfig(options: RegistryOptions, port: number, file: string): Promise<string> {
  await mkdir(options.dir, { recursive: true });
  const config = {
    version: '0.1',
    log: { level: 'info', accesslog: { disabled: false } },
    storage: {
      ...(options.storage ?? { filesystem: { rootdirectory: options.root } }),
      delete: { enabled: options.deleteEnabled ?? true },
    },
    ...options.extra,
    http: { addr: `127.0.0.1:${port}`, ...(options.extra?.http as object | undefined) },
  };
  const path = join(options.dir, file);
  await writeFile(path, stringify(config));
  return path;
}

/** This project's `registry serve`, built (pnpm test builds first). */
export async function startOurRegistry(options: RegistryOptions): Promise<Server> {
  const port = await freePort();
  const config = await writeConfig(options, port, 'ours.yml');
  return startServer(process.execPath, [REGISTRY_MAIN, 'serve', config], {
    url: `http://127.0.0.1:${port}`,
    name: 'registry serve',
    ...(options.env && { env: options.env }),
    ...(options.readyPath && { readyPath: options.readyPath }),
    ...(options.ready && { ready: () => (options.ready as (port: number) => Promise<boolean>)(port) }),
  });
}

/** Debian's docker-registry (distribution 2.8), the reference peer. */
export async function startDockerRegistry(options: RegistryOptions): Promise<Server> {
  const port = await freePort();
  const config = await writeConfig(options, port, 'distribution.yml');
  return startServer('docker-registry', ['serve', config], {
    url: `http://127.0.0.1:${port}`,
    name: 'docker-registry',
    ...(options.env && { env: options.env }),
  });
}

export interface TokenServer {
  /** The issuer's base URL; its realm is `${url}/token`. */
  url: string;
  /** The `auth.token` section registries trusting it are given. */
  auth: { token: { realm: string; service: string; issuer: string; rootcertbundle: string } };
  /** The directory `token-server init` wrote (keys, htpasswd, acl.yml). */
  dir: string;
}

/**
 * `registry token-server` as a user sets it up: `init` in `dir`, `users` added with htpasswd -B (or, given an
 * `ldap` section, taken from a directory instead), `acl` written, and the server started (stopped by stopAll).
 */
export async function startTokenServer(
  dir: string,
  service: string,
  users: [string, string][] | { ldap: Record<string, unknown> },
  acl: object[],
): Promise<TokenServer> {
  const port = await freePort();
  await execa(process.execPath, [
    REGISTRY_MAIN,
    'token-server',
    'init',
    dir,
    '--addr',
    `127.0.0.1:${port}`,
    '--service',
    service,
  ]);
  if (Array.isArray(users)) {
    for (const [i, [user, password]] of users.entries())
      await execa('htpasswd', [
        '-B',
        ...(i === 0 ? ['-c'] : []),
        '-b',
        join(dir, 'htpasswd'),
        user,
        password,
      ]);
  } else {
    const config = parse(await readFile(join(dir, 'token-server.yml'), 'utf8')) as Record<string, unknown>;
    delete config.htpasswd;
    await writeFile(join(dir, 'token-server.yml'), stringify({ ...config, ldap: users.ldap }));
  }
  await writeFile(join(dir, 'acl.yml'), stringify(acl));
  const url = `http://127.0.0.1:${port}`;
  await startServer(process.execPath, [REGISTRY_MAIN, 'token-server', join(dir, 'token-server.yml')], {
    url,
    readyPath: `/token?service=${service}`,
    name: 'token-server',
  });
  return {
    url,
    dir,
    auth: {
      token: {
        realm: `${url}/token`,
        service,
        issuer: 'regop-token-issuer',
        rootcertbundle: join(dir, 'root.crt'),
      },
    },
  };
}
