import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Machine } from '@regop/ops';
import { ActionError, type CharmContext } from '@regop/ops';
import { execa } from 'execa';
import type { CharmConfig } from '../options.js';
import { PATHS } from '../render.js';

/** Where an image comes from, and the repository and version it is known by. */
interface Source {
  /** skopeo transport reference. */
  ref: string;
  path: string;
  version: string;
  /** A registry on this machine's loopback, reached without TLS verification. */
  loopback?: boolean;
  remote: boolean;
}

/**
 * Reads the image parameter: `oci:PATH[:TAG]`, `docker-archive:PATH`, or a registry reference
 * `[HOST[:PORT]/]PATH[:TAG|@DIGEST]` (an `https://` prefix is accepted, as Canonical's docs show it).
 */
export function parseSource(image: string): Source {
  if (image.startsWith('oci:')) {
    const [dir, tag = 'latest'] = image.slice(4).split(':');
    if (!dir) throw new ActionError(`image ${image}: oci: needs a layout path`);
    return { ref: `oci:${dir}:${tag}`, path: basename(dir), version: tag, remote: false };
  }
  if (image.startsWith('docker-archive:')) {
    const file = image.slice('docker-archive:'.length);
    if (!file) throw new ActionError(`image ${image}: docker-archive: needs a file`);
    return {
      ref: image,
      path: basename(file).replace(/\.tar(\.gz)?$/, ''),
      version: 'latest',
      remote: false,
    };
  }
  const bare = image.replace(/^[a-z]+:\/\//, '');
  if (!/^[a-zA-Z0-9][a-zA-Z0-9._:/@-]*$/.test(bare) || bare.includes('//'))
    throw new ActionError(
      `image ${image} is not an image reference (HOST/PATH:TAG, oci:PATH:TAG or docker-archive:PATH)`,
    );
  const parts = bare.split('/');
  const first = parts[0] as string;
  const hasHost = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost');
  const rest = hasHost ? parts.slice(1).join('/') : bare;
  const [path, version] = rest.includes('@')
    ? rest.split('@')
    : [rest.replace(/:[^:/]*$/, ''), /:([^:/]*)$/.exec(rest)?.[1] ?? 'latest'];
  const loopback = hasHost && /^(localhost|127\.\d+\.\d+\.\d+)(:\d+)?$/.test(first);
  return {
    ref: `docker://${hasHost ? bare : `docker.io/${bare}`}${!rest.includes('@') && !/:[^:/]*$/.test(rest) ? ':latest' : ''}`,
    path: path as string,
    version: version as string,
    remote: true,
    loopback,
  };
}

/** The default destination tag: `net_location/name:version`, the net location from http-host when set. */
export function defaultTag(config: CharmConfig, address: string, source: Source): string {
  const netloc = config['http-host']
    ? new URL(config['http-host']).host
    : `${address}:${config['registry-port']}`;
  const version = source.version.startsWith('sha256:') ? 'latest' : source.version;
  return `${netloc}/${source.path}:${version}`;
}

/**
 * Which platforms a copy takes: all of a multi-arch index, as `docker push` of a manifest list does, or the one
 * `platform` names (os/arch[/variant], e.g. linux/arm64).
 */
export function platformCopyArgs(platform: string): string[] {
  if (!platform) return ['--multi-arch=all'];
  const [os, arch, variant] = platform.split('/');
  if (!os || !arch || platform.split('/').length > 3)
    throw new ActionError(`platform ${platform}: expected OS/ARCH[/VARIANT], e.g. linux/arm64`);
  return [
    '--multi-arch=system',
    `--override-os=${os}`,
    `--override-arch=${arch}`,
    ...(variant ? [`--override-variant=${variant}`] : []),
  ];
}

/** Runs skopeo, reporting each line of its progress (one per blob) to the action log. */
async function skopeo(ctx: CharmContext, args: string[]): Promise<void> {
  const child = execa('skopeo', args, { all: true, reject: false });
  let lines = '';
  for await (const line of child.iterable({ from: 'all' })) {
    lines += `${line}\n`;
    if (/^(Copying|Writing|Storing)/.test(String(line))) await ctx.backend.actionLog(String(line));
  }
  const result = await child;
  if (result.code === 'ENOENT')
    throw new ActionError('skopeo is not installed on this unit (apt install skopeo)');
  if (result.exitCode !== 0)
    throw new ActionError(`skopeo ${args[0]} failed: ${lines.trim().split('\n').slice(-2).join(' ')}`);
}

export async function pushAction(
  ctx: CharmContext,
  machine: Machine,
  config: CharmConfig,
  tlsOn: boolean,
): Promise<void> {
  const params = await ctx.backend.actionGet();
  const image = String(params.image ?? '');
  if (!image) throw new ActionError('missing required image parameter');
  const source = parseSource(image);
  const platformArgs = platformCopyArgs(String(params.platform ?? ''));
  const address = await ctx.backend.privateAddress();
  const tag = String(params.tag ?? '') || defaultTag(config, address, source);
  const destPath = tag.replace(/^[^/]*[.:][^/]*\//, '');
  const dest = `docker://${address}:${config['registry-port']}/${destPath.includes(':') ? destPath : `${destPath}:latest`}`;

  // The unit's image store: what pull=true fetched, what pull=false pushes from.
  const store = machine.path(PATHS.images);
  const stored = `oci:${store}:${source.path.replace(/\//g, '_')}-${source.version.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
  let from = source.ref;
  if (source.remote) {
    if (params.pull !== false) {
      await skopeo(ctx, [
        'copy',
        ...platformArgs,
        ...(source.loopback ? ['--src-tls-verify=false'] : []),
        source.ref,
        stored,
      ]);
    } else if ((await readFile(join(store, 'index.json'), 'utf8').catch(() => '')).length === 0) {
      throw new ActionError(`${image} is not in this unit's image store: push it once with pull=true`);
    }
    from = stored;
  }

  const work = await mkdtemp(join(tmpdir(), 'regop-push-'));
  try {
    const destArgs: string[] = [];
    if (tlsOn) {
      // skopeo trusts the CA files of a cert dir; a self-signed certificate is its own CA.
      const ca =
        (await machine.read(config['tls-ca-path'])) ?? (await machine.read(config['tls-cert-path'])) ?? '';
      await writeFile(join(work, 'ca.crt'), ca);
      destArgs.push(`--dest-cert-dir=${work}`);
    } else {
      destArgs.push('--dest-tls-verify=false');
    }
    if (config['auth-basic-password'] && config['auth-basic-user'] && !config['auth-token-realm']) {
      // In a file, not on the command line where any user could read it.
      const auth = Buffer.from(`${config['auth-basic-user']}:${config['auth-basic-password']}`).toString(
        'base64',
      );
      const authFile = join(work, 'auth.json');
      await writeFile(
        authFile,
        JSON.stringify({ auths: { [`${address}:${config['registry-port']}`]: { auth } } }),
        {
          mode: 0o600,
        },
      );
      destArgs.push(`--dest-authfile=${authFile}`);
    }
    const digestFile = join(work, 'digest');
    await skopeo(ctx, ['copy', ...platformArgs, ...destArgs, `--digestfile=${digestFile}`, from, dest]);
    const digest = (await readFile(digestFile, 'utf8')).trim();
    await ctx.backend.actionSet({ raw: `pushed ${tag}`, image: tag, digest, outcome: 'success' });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
