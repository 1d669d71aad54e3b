#!/usr/bin/env node
/**
 * The model's registry-client charm, standing in for charm-containerd on the docker-registry relation
 * (`configure_registry`, `merge_custom_registries` and its config_v2.toml), quirks included:
 * - it reads `registry_netloc` (ready once set), `basic_user` and `basic_password` (both, or neither) and
 *   `tls_ca` (TLS when not null), JSON-decoded; `registry_url` is never read;
 * - the registry becomes the mirror of its netloc with the netloc itself as endpoint, without a scheme, so
 *   containerd adds one: https, except for a local host (localhost, 127.0.0.1, ::1). Every unit of the model
 *   has a loopback address standing for its machine's, so only those three names count as local here;
 * - `tls_ca` goes into the system trust store (/usr/local/share/ca-certificates/juju-docker-registry.crt),
 *   while the TLS section names the Kubernetes worker's own files under /root/cdk, not that CA;
 * - when the relation goes, the registry leaves config.toml and the CA stays installed.
 * Its `pull` action pulls with skopeo as containerd would with that configuration.
 */
import { mkdir } from 'node:fs/promises';
import { ActionError, type CharmContext, dispatch, Machine } from '@regop/ops';
import { execa } from 'execa';

const CONFIG = '/etc/containerd/config.toml';
const TRUST = '/usr/local/share/ca-certificates';
const CA = `${TRUST}/juju-docker-registry.crt`;

interface Registry {
  netloc: string;
  user?: string;
  password?: string;
  ca?: string;
}

/** A value as the interface's JSON unit data view reads it: JSON, `null` for unset. */
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
      return { netloc, ...(user && password && { user, password }), ...(ca && { ca }) };
    }
  return undefined;
}

/** containerd's addDefaultScheme for an endpoint without one. */
const endpointUrl = (netloc: string) =>
  `${/^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/.test(netloc) ? 'http' : 'https'}://${netloc}`;

const CRI = 'plugins."io.containerd.grpc.v1.cri".registry';

function configToml(registry: Registry | undefined): string {
  const lines = [
    'version = 2',
    '',
    `[${CRI}]`,
    `  [${CRI}.mirrors]`,
    `    [${CRI}.mirrors."docker.io"]`,
    '      endpoint = ["https://registry-1.docker.io"]',
  ];
  if (registry) {
    const key = `${CRI}.configs."${registry.netloc}"`;
    lines.push(
      `    [${CRI}.mirrors."${registry.netloc}"]`,
      `      endpoint = ["${registry.netloc}"]`,
      `  [${CRI}.configs]`,
    );
    if (registry.user)
      lines.push(
        `    [${key}.auth]`,
        `      username = "${registry.user}"`,
        `      password = "${registry.password}"`,
      );
    if (registry.ca)
      lines.push(
        `    [${key}.tls]`,
        '      ca_file = "/root/cdk/ca.crt"',
        '      cert_file = "/root/cdk/server.crt"',
        '      key_file = "/root/cdk/server.key"',
        '      insecure_skip_verify = false',
      );
  }
  return `${lines.join('\n')}\n`;
}

async function configure(ctx: CharmContext, machine: Machine) {
  const registry = await related(ctx);
  if (registry?.ca) await machine.write(CA, registry.ca);
  await machine.write(CONFIG, configToml(registry), 0o600);
  await ctx.backend.statusSet(
    'active',
    registry
      ? `Container runtime available; registry ${registry.netloc} (${endpointUrl(registry.netloc)}).`
      : 'Container runtime available.',
  );
}

async function pull(ctx: CharmContext, machine: Machine) {
  const registry = await related(ctx);
  if (!registry) throw new ActionError('no registry related over docker-registry');
  const image = String((await ctx.backend.actionGet()).image ?? '');
  const store = machine.path('/var/lib/registry-client/images');
  await mkdir(store, { recursive: true });
  const https = endpointUrl(registry.netloc).startsWith('https:');
  const result = await execa(
    'skopeo',
    [
      'copy',
      '--retry-times=2',
      // The system's roots and what was installed into its store, as containerd verifies.
      ...(https ? [`--src-cert-dir=${machine.path(TRUST)}`] : ['--src-tls-verify=false']),
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
    { reject: false },
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
