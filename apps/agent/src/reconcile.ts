import { hostname } from 'node:os';
import type { CharmContext, Machine } from '@regop/ops';
import bcrypt from 'bcryptjs';
import { stringify } from 'yaml';
import { type CharmConfig, type OptionProblem, parseCharmConfig } from './options.js';
import { waitForRegistry } from './probe.js';
import { checkPlugin, registryMain } from './programs.js';
import { CERT_PROVIDER, exchangeCertificate, type ProvidedCertificate } from './relations/cert-provider.js';
import { DOCKER_REGISTRY, publishClientConfig } from './relations/docker-registry.js';
import { configureNrpe, NRPE } from './relations/nrpe.js';
import { applicationUnits, PEER } from './relations/peer.js';
import { remoteUnits } from './relations/remote.js';
import { proxyAddresses, publishWebsite, servicesYaml, WEBSITE } from './relations/website.js';
import { PATHS, renderRegistryConfig } from './render.js';
import { checkTlsBlobs, type TlsFiles } from './tls.js';

/** What the agent remembers between hooks. */
export interface AgentState {
  /** The operator stopped the service (stop action): hooks leave it stopped until the start action. */
  stopped?: boolean;
  /** Where the TLS files came from (the tls-*-blob options or the cert-provider relation): the agent removes them when that source goes. */
  tlsSource?: 'blobs' | 'provider';
  /** The port last opened. */
  port?: number;
}

export async function readState(machine: Machine): Promise<AgentState> {
  const state = JSON.parse((await machine.read(PATHS.state)) ?? '{}') as AgentState & {
    tlsFromBlobs?: boolean;
  };
  // Written by the charm before relations: its blob files are still the blobs' to remove.
  if (state.tlsFromBlobs) state.tlsSource = 'blobs';
  delete state.tlsFromBlobs;
  return state;
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

/** Juju shows one line: each option with its reason, never its value (it may be a secret). */
const blocked = (problems: OptionProblem[]) =>
  `Invalid charm config: ${problems.map((p) => `${p.option} ${p.reason}`).join('; ')}`;

/** http-host's host and port, else the proxy's address, else the unit's, with the registry port. */
export function netLocation(config: CharmConfig, proxies: string[], address: string): string {
  if (config['http-host']) return new URL(config['http-host']).host;
  return `${proxies[0] ?? address}:${config['registry-port']}`;
}

/** Where the TLS files come from: the blobs win over a provider (the operator set them on purpose). */
function tlsSource(blobs: TlsFiles | undefined, provided: ProvidedCertificate) {
  if (blobs) return { source: 'blobs' as const, files: blobs };
  if (provided.state === 'ready') return { source: 'provider' as const, files: provided.files };
  return undefined;
}

/**
 * The one reconcile every hook runs. It reads every input (config, leadership, and each relation: peers,
 * website, cert-provider, docker-registry, nrpe-external-master), writes the registry's files, (re)starts the
 * service only when something changed, opens the port, publishes what each relation needs and reports
 * status. Invalid config blocks the unit naming the options and changes nothing; bad data from a relation
 * blocks it naming the relation, and the registry keeps serving its last good configuration.
 */
export async function reconcile(ctx: CharmContext, machine: Machine): Promise<void> {
  const { backend } = ctx;
  // Every input is read at once (each hook tool is a process; the backend remembers what it read).
  const [{ config, tls: blobTls, problems }, address, publicAddress, leader] = await Promise.all([
    loadConfig(ctx),
    backend.privateAddress(),
    backend.publicAddress(),
    backend.isLeader(),
    ...[WEBSITE, PEER, CERT_PROVIDER, DOCKER_REGISTRY, NRPE].map((e) => remoteUnits(backend, e)),
  ]);
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
  const port = config['registry-port'];
  const proxies = await proxyAddresses(backend);

  // TLS: the blobs, else a certificate from cert-provider, else files an operator put at the tls-*-path.
  const sans = [address, publicAddress, hostname(), ...proxies];
  if (config['http-host']) sans.push(new URL(config['http-host']).hostname);
  const provided = await exchangeCertificate(backend, ctx.unitName, {
    commonName: address,
    sans: [...new Set(sans)].sort(),
  });
  const relationProblem = provided.state === 'invalid' ? `cert-provider: ${provided.reason}` : undefined;
  const paths = { cert: config['tls-cert-path'], key: config['tls-key-path'], ca: config['tls-ca-path'] };
  const tls = tlsSource(blobTls, provided);
  let changed = false;
  if (tls) {
    changed = (await machine.write(paths.cert, tls.files.cert)) || changed;
    changed = (await machine.write(paths.key, tls.files.key, 0o600)) || changed;
    if (tls.files.ca) changed = (await machine.write(paths.ca, tls.files.ca)) || changed;
    state.tlsSource = tls.source;
  } else if (state.tlsSource && !relationProblem) {
    // The source is gone (blobs unset, provider departed): serve HTTP again. Bad data keeps the last good files.
    for (const p of Object.values(paths)) changed = (await machine.remove(p)) || changed;
    delete state.tlsSource;
  }
  const tlsOn =
    (await machine.read(paths.cert)) !== undefined && (await machine.read(paths.key)) !== undefined;
  const ca = tlsOn ? await machine.read(paths.ca) : undefined;

  // Basic auth needs both a user and a password; the file is rewritten only when they change.
  const user = config['auth-basic-user'];
  const password = config['auth-basic-password'];
  const basicAuth = Boolean(user && password && !config['auth-token-realm']);
  const current = await machine.read(PATHS.htpasswd);
  if (basicAuth) {
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

  const rendered = renderRegistryConfig(config, {
    bindAddress: machine.isolated ? address : '0.0.0.0',
    ...(tlsOn && { tls: { certificate: machine.path(paths.cert), key: machine.path(paths.key) } }),
    root: (p) => machine.path(p),
    leader,
  });
  changed = (await machine.write(PATHS.config, stringify(rendered), 0o600)) || changed;
  changed =
    (await machine.services.install({
      name,
      description: `Container registry ${name} (regop)`,
      command: [process.execPath, registryMain(), 'serve', machine.path(PATHS.config)],
      env: {
        ...(config['registry-http-proxy'] && { HTTP_PROXY: config['registry-http-proxy'] }),
        ...(config['registry-https-proxy'] && { HTTPS_PROXY: config['registry-https-proxy'] }),
      },
    })) || changed;

  if (state.port !== undefined && state.port !== port) await backend.closePort(state.port);
  await backend.openPort(port);
  state.port = port;
  await writeState(machine, state);

  let failure: string | undefined;
  if (!state.stopped) {
    if (changed || !(await machine.services.running(name))) {
      await backend.statusSet('maintenance', 'Configuring the registry.');
      await machine.services.restart(name);
    }
    failure = await waitForRegistry(`${tlsOn ? 'https' : 'http'}://${address}:${port}`, {
      alive: () => machine.services.running(name),
      lastWords: () => machine.services.lastWords(name),
    });
  }

  // What the relations are told (each its own relation: told at once).
  const netloc = netLocation(config, proxies, address);
  const servers = leader ? await applicationUnits(backend, { unit: ctx.unitName, address }) : [];
  await Promise.all([
    publishWebsite(
      backend,
      leader ? { address, port, services: servicesYaml(ctx.appName, port, servers, tlsOn) } : undefined,
    ),
    publishClientConfig(backend, {
      netloc,
      url: `${tlsOn ? 'https' : 'http'}://${netloc}`,
      ...(basicAuth && { basicUser: user, basicPassword: password }),
      ...(ca && { ca }),
    }),
    configureNrpe(backend, machine, {
      unitName: ctx.unitName,
      plugin: checkPlugin(),
      args: [
        `--host=${address}`,
        `--port=${port}`,
        ...(tlsOn ? ['--ssl', ...(ca ? [`--ca-file=${machine.path(paths.ca)}`] : [])] : []),
        `--health-url=http://${address}:${config['debug-port']}/debug/health`,
      ],
      context: config.nagios_context,
      servicegroups: config.nagios_servicegroups,
    }),
  ]);

  if (state.stopped) await backend.statusSet('blocked', `${name} service is stopped.`);
  else if (failure) await backend.statusSet('blocked', `${name} service failed to start: ${failure}`);
  else if (relationProblem) await backend.statusSet('blocked', relationProblem);
  else if (provided.state === 'waiting' && !blobTls)
    await backend.statusSet('waiting', `cert-provider: ${provided.reason}`);
  else {
    // `Ready at IP:PORT (https, proxied).`, as Canonical's charm reports it, and whether it takes pushes.
    const suffix = [
      tlsOn ? 'https' : 'http',
      ...(proxies.length ? ['proxied'] : []),
      ...(config['storage-read-only'] ? ['read-only'] : []),
    ];
    // containerd (its charm) reaches a related registry by its net location over https whatever registry_url
    // says: over plain HTTP its pulls fail, which the operator should see here rather than in a failed pod.
    const clients = !tlsOn && (await remoteUnits(backend, DOCKER_REGISTRY)).length > 0;
    await backend.statusSet(
      'active',
      `Ready at ${address}:${port} (${suffix.join(', ')}).${clients ? ' Clients on docker-registry need TLS (containerd uses https).' : ''}`,
    );
  }
}
