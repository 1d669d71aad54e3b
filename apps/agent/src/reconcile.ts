import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { CharmContext } from '@regop/ops';
import bcrypt from 'bcryptjs';
import { stringify } from 'yaml';
import type { Machine } from './machine.js';
import { type CharmConfig, type OptionProblem, parseCharmConfig } from './options.js';
import { waitForRegistry } from './probe.js';
import { PATHS, renderRegistryConfig } from './render.js';
import { checkTlsBlobs, type TlsFiles } from './tls.js';

/** What the agent remembers between hooks. */
export interface AgentState {
  /** The operator stopped the service (stop action): hooks leave it stopped until the start action. */
  stopped?: boolean;
  /** The TLS files came from the tls-*-blob options, so unsetting them removes the files. */
  tlsFromBlobs?: boolean;
  /** The port last opened. */
  port?: number;
}

export const REGISTRY_MAIN = fileURLToPath(new URL('../../registry/dist/main.js', import.meta.url));

export async function readState(machine: Machine): Promise<AgentState> {
  return JSON.parse((await machine.read(PATHS.state)) ?? '{}') as AgentState;
}

export async function writeState(machine: Machine, state: AgentState): Promise<void> {
  await machine.write(PATHS.state, `${JSON.stringify(state)}\n`, 0o600);
}

/**
 * Reads and validates the charm config: the config with its decoded TLS blobs (when set), or the problems
 * (option names and reasons).
 */
export async function loadConfig(
  ctx: CharmContext,
): Promise<{ config?: CharmConfig; tls?: TlsFiles; problems: OptionProblem[] }> {
  const parsed = parseCharmConfig(await ctx.backend.configGet());
  if (!parsed.config) return parsed;
  const { files, problems } = checkTlsBlobs(parsed.config);
  return problems.length ? { problems } : { config: parsed.config, ...(files && { tls: files }), problems };
}

const blocked = (problems: OptionProblem[]) =>
  `Invalid charm config: ${[...new Set(problems.map((p) => p.option))].join(', ')}`;

/**
 * The one reconcile every hook runs: render the registry's files from the config, (re)start the service
 * only when something changed, open the port and report status. Invalid config blocks the unit naming the
 * options and changes nothing, so the registry keeps serving its last good config.
 */
export async function reconcile(ctx: CharmContext, machine: Machine): Promise<void> {
  const { backend } = ctx;
  const { config, tls, problems } = await loadConfig(ctx);
  if (!config) {
    for (const p of problems) await backend.log(`config option ${p.option} ${p.reason}`, 'WARNING');
    await backend.statusSet('blocked', blocked(problems));
    return;
  }
  if (config['registry-image'] !== 'registry:2')
    await backend.log(
      'registry-image has no effect: this charm runs the registry as a service, not a container',
      'WARNING',
    );
  const state = await readState(machine);
  const name = config['registry-name'];

  let httpSecret = (await backend.leaderGet())['http-secret'];
  if (!httpSecret && (await backend.isLeader())) {
    httpSecret = randomBytes(32).toString('base64');
    await backend.leaderSet({ 'http-secret': httpSecret });
  }

  let changed = false;
  // TLS: the blobs overwrite the tls-*-path files; without blobs, files an operator put there are used.
  const paths = { cert: config['tls-cert-path'], key: config['tls-key-path'], ca: config['tls-ca-path'] };
  if (tls) {
    changed = (await machine.write(paths.cert, tls.cert)) || changed;
    changed = (await machine.write(paths.key, tls.key, 0o600)) || changed;
    if (tls.ca) changed = (await machine.write(paths.ca, tls.ca)) || changed;
    state.tlsFromBlobs = true;
  } else if (state.tlsFromBlobs) {
    for (const p of Object.values(paths)) changed = (await machine.remove(p)) || changed;
    state.tlsFromBlobs = false;
  }
  const tlsOn =
    (await machine.read(paths.cert)) !== undefined && (await machine.read(paths.key)) !== undefined;

  // Basic auth needs both a user and a password; the file is rewritten only when they change.
  const user = config['auth-basic-user'];
  const password = config['auth-basic-password'];
  const current = await machine.read(PATHS.htpasswd);
  if (user && password && !config['auth-token-realm']) {
    const [entryUser, hash] = (current ?? '').trim().split(':', 2);
    if (entryUser !== user || !hash || !(await bcrypt.compare(password, hash))) {
      await machine.write(PATHS.htpasswd, `${user}:${await bcrypt.hash(password, 10)}\n`, 0o600);
      changed = true;
    }
  } else if (current !== undefined) {
    changed = (await machine.remove(PATHS.htpasswd)) || changed;
  }
  if (config['auth-token-realm']) {
    const bundle = Buffer.from(config['auth-token-root-certs'], 'base64').toString('utf8');
    changed = (await machine.write(PATHS.tokenBundle, bundle)) || changed;
  }

  const address = await backend.privateAddress();
  const rendered = renderRegistryConfig(config, {
    bindAddress: machine.isolated ? address : '0.0.0.0',
    ...(httpSecret && { httpSecret }),
    ...(tlsOn && { tls: { certificate: machine.path(paths.cert), key: machine.path(paths.key) } }),
    root: (p) => machine.path(p),
  });
  changed = (await machine.write(PATHS.config, stringify(rendered), 0o600)) || changed;
  changed =
    (await machine.services.install({
      name,
      description: `Container registry ${name} (regop)`,
      command: [process.execPath, REGISTRY_MAIN, 'serve', machine.path(PATHS.config)],
      env: {
        ...(config['registry-http-proxy'] && { HTTP_PROXY: config['registry-http-proxy'] }),
        ...(config['registry-https-proxy'] && { HTTPS_PROXY: config['registry-https-proxy'] }),
      },
    })) || changed;

  const port = config['registry-port'];
  if (state.port !== undefined && state.port !== port) await backend.closePort(state.port);
  await backend.openPort(port);
  state.port = port;
  await writeState(machine, state);

  if (state.stopped) {
    await backend.statusSet('blocked', `${name} service is stopped.`);
    return;
  }
  if (changed || !(await machine.services.running(name))) {
    await backend.statusSet('maintenance', 'Configuring the registry.');
    await machine.services.restart(name);
  }
  await reportStatus(ctx, machine, config, address, tlsOn);
}

/** `Ready at IP:PORT (https, proxied).` once the registry answers, as Canonical's charm reports it. */
async function reportStatus(
  ctx: CharmContext,
  machine: Machine,
  config: CharmConfig,
  address: string,
  tlsOn: boolean,
) {
  const { backend } = ctx;
  const port = config['registry-port'];
  const name = config['registry-name'];
  const scheme = tlsOn ? 'https' : 'http';
  const error = await waitForRegistry(`${scheme}://${address}:${port}/`, () =>
    machine.services.running(name),
  );
  if (error) {
    await backend.statusSet('blocked', `${name} service failed to start: ${error}`);
    return;
  }
  const suffix = [scheme, ...((await backend.relationIds('website')).length ? ['proxied'] : [])];
  await backend.statusSet('active', `Ready at ${address}:${port} (${suffix.join(', ')}).`);
}
