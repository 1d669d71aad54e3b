/**
 * Acting on the unit's state: the registry's files, its service (restarted only when something changed), its
 * port, and then what each relation is told. Nothing here reads an input gather did not.
 */
import type { CharmContext, Machine } from '@regop/ops';
import bcrypt from 'bcryptjs';
import { stringify } from 'yaml';
import { waitForRegistry } from './probe.js';
import { registryMain } from './programs.js';
import { relationEntries } from './relations/index.js';
import type { Served } from './relations/relation.js';
import { PATHS, renderRegistryConfig } from './render.js';
import { type UnitState, writeState } from './state.js';

export interface Applied {
  served: Served;
  /** Why the registry did not start, when it did not. */
  failure?: string;
}

/** http-host's host and port, else the proxy's address, else the unit's, with the registry port. */
function netLocation(unit: UnitState): string {
  const { config, address } = unit.facts;
  if (config['http-host']) return new URL(config['http-host']).host;
  return `${unit.relations.website.proxies[0] ?? address}:${config['registry-port']}`;
}

export async function apply(unit: UnitState, ctx: CharmContext, machine: Machine): Promise<Applied> {
  const { backend } = ctx;
  const { facts, tls, agent } = unit;
  const { config, address } = facts;
  const name = config['registry-name'];
  const port = config['registry-port'];

  let changed = false;
  const { plan, paths, onDisk } = tls;
  if (plan.kind === 'write') {
    changed = (await machine.write(paths.cert, plan.files.cert)) || changed;
    changed = (await machine.write(paths.key, plan.files.key, 0o600)) || changed;
    if (plan.files.ca) changed = (await machine.write(paths.ca, plan.files.ca)) || changed;
    agent.tlsSource = plan.source;
  } else if (plan.kind === 'remove') {
    for (const p of Object.values(paths)) changed = (await machine.remove(p)) || changed;
    delete agent.tlsSource;
  }
  const tlsOn =
    plan.kind === 'write' || (plan.kind === 'keep' && onDisk.cert !== undefined && onDisk.key !== undefined);
  const ca = !tlsOn ? undefined : plan.kind === 'write' ? (plan.files.ca ?? onDisk.ca) : onDisk.ca;

  // Basic auth needs both a user and a password; the file is rewritten only when they change.
  const user = config['auth-basic-user'];
  const password = config['auth-basic-password'];
  // A token realm wins, then a directory; only the charm's own htpasswd user is sent to related clients.
  const basicAuth = Boolean(user && password && !config['auth-token-realm'] && !config['auth-ldap-url']);
  if (basicAuth) {
    const [entryUser, hash] = (unit.htpasswd ?? '').trim().split(':', 2);
    if (entryUser !== user || !hash || !(await bcrypt.compare(password, hash))) {
      await machine.write(PATHS.htpasswd, `${user}:${await bcrypt.hash(password, 10)}\n`, 0o600);
      changed = true;
    }
  } else if (unit.htpasswd !== undefined) {
    changed = (await machine.remove(PATHS.htpasswd)) || changed;
  }
  if (config['auth-ldap-url'] && config['auth-ldap-ca']) {
    const ca = Buffer.from(config['auth-ldap-ca'], 'base64').toString('utf8');
    changed = (await machine.write(PATHS.ldapCa, ca)) || changed;
  }
  if (config['auth-token-realm']) {
    const bundle = Buffer.from(config['auth-token-root-certs'], 'base64').toString('utf8');
    changed = (await machine.write(PATHS.tokenBundle, bundle)) || changed;
  }

  const rendered = renderRegistryConfig(config, {
    bindAddress: machine.isolated ? address : '0.0.0.0',
    ...(tlsOn && { tls: { certificate: machine.path(paths.cert), key: machine.path(paths.key) } }),
    root: (p) => machine.path(p),
    leader: facts.leader,
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

  if (agent.port !== undefined && agent.port !== port) await backend.closePort(agent.port);
  await backend.openPort(port);
  agent.port = port;
  await writeState(machine, agent);

  let failure: string | undefined;
  if (!agent.stopped) {
    if (changed || !(await machine.services.running(name))) {
      await backend.statusSet('maintenance', 'Configuring the registry.');
      await machine.services.restart(name);
    }
    failure = await waitForRegistry(`${tlsOn ? 'https' : 'http'}://${address}:${port}`, {
      alive: () => machine.services.running(name),
      lastWords: () => machine.services.lastWords(name),
    });
  }

  const netloc = netLocation(unit);
  const served: Served = {
    port,
    tlsOn,
    ...(ca && { ca, caPath: machine.path(paths.ca) }),
    ...(basicAuth && { basicAuth: { user, password } }),
    netloc,
    url: `${tlsOn ? 'https' : 'http'}://${netloc}`,
  };
  // Each relation is its own: all are told at once.
  await Promise.all(
    relationEntries().map(([relation, module]) =>
      module.publish?.(unit.relations[relation], unit, served, { backend, machine }),
    ),
  );
  return { served, ...(failure && { failure }) };
}
