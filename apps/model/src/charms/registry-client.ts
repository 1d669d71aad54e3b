#!/usr/bin/env node
/**
 * The model's registry-client charm, a containerd-like consumer of the docker-registry relation. From what the
 * registry sends (JSON values: registry_netloc, registry_url, basic_user, basic_password, tls_ca) it writes
 * /etc/containerd/certs.d/<netloc>/hosts.toml and ca.crt as containerd reads them, and its `pull` action pulls
 * with skopeo using exactly that configuration.
 */
import { mkdir, readdir } from 'node:fs/promises';
import { ActionError, type CharmContext, dispatch, Machine } from '@regop/ops';
import { execa } from 'execa';

const CERTS_D = '/etc/containerd/certs.d';

interface Registry {
  netloc: string;
  url: string;
  user?: string;
  password?: string;
  ca?: string;
}

const decode = (value: string | undefined): string | undefined => {
  if (value === undefined) return undefined;
  try {
    const parsed = JSON.parse(value) as unknown;
    return typeof parsed === 'string' ? parsed : undefined;
  } catch {
    return value;
  }
};

async function related(ctx: CharmContext): Promise<Registry | undefined> {
  const { backend } = ctx;
  for (const id of await backend.relationIds('docker-registry'))
    for (const unit of await backend.relationList(id)) {
      const data = await backend.relationGet(id, unit);
      const netloc = decode(data.registry_netloc);
      if (!netloc) continue;
      const user = decode(data.basic_user);
      const password = decode(data.basic_password);
      const ca = decode(data.tls_ca);
      return {
        netloc,
        url: decode(data.registry_url) ?? `http://${netloc}`,
        ...(user && password && { user, password }),
        ...(ca && { ca }),
      };
    }
  return undefined;
}

function hostsToml(r: Registry, caPath: string): string {
  const lines = [`server = "${r.url}"`, '', `[host."${r.url}"]`, '  capabilities = ["pull", "resolve"]'];
  if (r.ca) lines.push(`  ca = "${caPath}"`);
  if (r.user && r.password)
    lines.push(
      `  [host."${r.url}".header]`,
      `    authorization = "Basic ${Buffer.from(`${r.user}:${r.password}`).toString('base64')}"`,
    );
  return `${lines.join('\n')}\n`;
}

async function configure(ctx: CharmContext, machine: Machine) {
  const registry = await related(ctx);
  const keep = registry ? `${CERTS_D}/${registry.netloc}` : undefined;
  for (const dir of await readdir(machine.path(CERTS_D)).catch(() => [] as string[]))
    if (`${CERTS_D}/${dir}` !== keep) {
      await machine.remove(`${CERTS_D}/${dir}/hosts.toml`);
      await machine.remove(`${CERTS_D}/${dir}/ca.crt`);
    }
  if (!registry || !keep) {
    await ctx.backend.statusSet('waiting', 'Waiting for a registry over docker-registry.');
    return;
  }
  if (registry.ca) await machine.write(`${keep}/ca.crt`, registry.ca);
  else await machine.remove(`${keep}/ca.crt`);
  await machine.write(`${keep}/hosts.toml`, hostsToml(registry, machine.path(`${keep}/ca.crt`)), 0o600);
  await ctx.backend.statusSet(
    'active',
    `Registry at ${registry.url}${registry.user ? ' (basic auth)' : ''}.`,
  );
}

async function pull(ctx: CharmContext, machine: Machine) {
  const registry = await related(ctx);
  if (!registry) throw new ActionError('no registry related over docker-registry');
  const image = String((await ctx.backend.actionGet()).image ?? '');
  const store = machine.path('/var/lib/registry-client/images');
  await mkdir(store, { recursive: true });
  const https = registry.url.startsWith('https:');
  const result = await execa(
    'skopeo',
    [
      'copy',
      '--retry-times=2',
      ...(https
        ? [`--src-cert-dir=${machine.path(`${CERTS_D}/${registry.netloc}`)}`]
        : ['--src-tls-verify=false']),
      ...(registry.user ? [`--src-creds=${registry.user}:${registry.password}`] : []),
      `docker://${registry.netloc}/${image}`,
      `oci:${store}:${image.replace(/[/:@]/g, '_')}`,
    ],
    { reject: false, all: true },
  );
  if (result.exitCode !== 0)
    throw new ActionError(`pull of ${image} failed: ${(result.all ?? '').trim().split('\n').at(-1)}`);
  const inspect = await execa(
    'skopeo',
    ['inspect', '--format', '{{.Digest}}', `oci:${store}:${image.replace(/[/:@]/g, '_')}`],
    {
      reject: false,
    },
  );
  await ctx.backend.actionSet({ image: `${registry.netloc}/${image}`, digest: inspect.stdout.trim() });
}

const machine = Machine.fromEnv(process.env, 'registry-client');
process.exitCode = await dispatch(async (ctx) => {
  if (ctx.event.kind === 'action') {
    if (ctx.event.name !== 'pull') throw new ActionError(`unknown action ${ctx.event.name}`);
    await pull(ctx, machine);
  } else await configure(ctx, machine);
});
