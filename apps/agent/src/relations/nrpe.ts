/**
 * The `nrpe-external-master` relation (container scope) to an NRPE subordinate. While related, the unit keeps
 * an NRPE command running the check-registry plugin against itself in /etc/nagios/nrpe.d/ and the Nagios
 * service definition under /var/lib/nagios/export/, publishes the check as `monitors` (as charm-helpers' NRPE
 * does), and touches the relation's `timestamp` when they change so the subordinate reloads; when the
 * relation goes, both files go.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Backend, Machine } from '@regop/ops';
import { stringify } from 'yaml';
import { checkPlugin } from '../programs.js';
import type { RelationModule } from './relation.js';

export const NRPE = 'nrpe-external-master';
export const CHECK_NAME = 'docker_registry';

export interface NrpeCheck {
  unitName: string;
  /** The plugin's built files (check-registry's dist/), installed on the machine while related. */
  plugin: { dir: string; files: string[] };
  /** The plugin's arguments. */
  args: string[];
  servicegroups: string;
}

export const checkFile = `/etc/nagios/nrpe.d/check_${CHECK_NAME}.cfg`;
/** Where the plugin is installed: its own copy, readable by the nagios user NRPE runs checks as. */
const PLUGIN_DIR = '/usr/local/lib/regop/check-registry';
export const PLUGIN = '/usr/local/lib/nagios/plugins/check_registry';
export const serviceFile = (unitName: string) =>
  `/var/lib/nagios/export/service__${unitName.replace('/', '-')}_${CHECK_NAME}.cfg`;

const MANAGED =
  '#---------------------------------------------------\n# This file is Juju managed\n#---------------------------------------------------\n';

/**
 * The `monitors` the nrpe charm reads from this relation (charm-helpers' NRPE format), so that Nagios learns of
 * the check over the relation as well as from the exported service file.
 */
export const MONITORS = stringify({
  monitors: { remote: { nrpe: { [CHECK_NAME]: { command: CHECK_NAME } } } },
});

/**
 * Canonical's charm checks the unit with `check_http` for "200 OK" on /, which goes CRITICAL once basic auth
 * or TLS is on: on an upgrade from it, its files go (only when they are its check).
 */
async function removeCanonicalCheck(machine: Machine, hostNames: string[]): Promise<boolean> {
  let removed = false;
  const files: [string, string][] = [
    ['/etc/nagios/nrpe.d/check_check_http.cfg', 'command[check_http]='],
    ...hostNames.map(
      (h) =>
        [`/var/lib/nagios/export/service__${h}_check_http.cfg`, 'check_nrpe!check_http'] as [string, string],
    ),
  ];
  for (const [file, mark] of files)
    if ((await machine.read(file))?.includes(mark)) removed = (await machine.remove(file)) || removed;
  return removed;
}

/** The subordinates related, and the names Nagios knows this machine by. */
export interface NrpeState {
  relationIds: string[];
  hostName: string;
  hostContext: string;
}

/** Writes or removes the check's files as the relation is there or not; says whether anything changed. */
export async function configureNrpe(
  backend: Backend,
  machine: Machine,
  state: NrpeState,
  check: NrpeCheck,
): Promise<boolean> {
  const unitHost = check.unitName.replace('/', '-');
  const upgraded = await removeCanonicalCheck(machine, [...new Set([unitHost, state.hostName])]);
  if (state.relationIds.length === 0) {
    const removed = await machine.remove(checkFile);
    return (await machine.remove(serviceFile(check.unitName))) || removed || upgraded;
  }
  for (const file of check.plugin.files)
    await machine.write(`${PLUGIN_DIR}/${file}`, await readFile(join(check.plugin.dir, file), 'utf8'));
  await machine.write(
    PLUGIN,
    `#!/bin/sh\nexec "${process.execPath}" "${machine.path(`${PLUGIN_DIR}/main.js`)}" "$@"\n`,
    0o755,
  );
  const command = [machine.path(PLUGIN), ...check.args].join(' ');
  let changed = await machine.write(checkFile, `${MANAGED}command[${CHECK_NAME}]=${command}\n`);
  changed =
    (await machine.write(
      serviceFile(check.unitName),
      [
        MANAGED.trimEnd(),
        'define service {',
        '    use                             active-service',
        `    host_name                       ${state.hostName}`,
        `    service_description             ${state.hostName} Docker registry health check`,
        `    check_command                   check_nrpe!${CHECK_NAME}`,
        `    servicegroups                   ${check.servicegroups || state.hostContext}`,
        '}',
        '',
      ].join('\n'),
    )) || changed;
  changed ||= upgraded;
  for (const id of state.relationIds)
    await backend.relationSet(id, {
      monitors: MONITORS,
      ...(changed && { timestamp: new Date().toISOString() }),
    });
  return changed;
}

/** The check of the registry that Nagios runs through the NRPE subordinate. */
export const nrpe: RelationModule<NrpeState> = {
  endpoint: NRPE,
  gather(remotes, { unitName, config }) {
    // The subordinate may name the host and context Nagios knows this machine by.
    const hostContext =
      remotes.map((r) => r.data.nagios_host_context).find(Boolean) || config.nagios_context || 'juju';
    const hostName =
      remotes.map((r) => r.data.nagios_hostname).find(Boolean) ||
      `${hostContext}-${unitName.replace('/', '-')}`;
    return { relationIds: [...new Set(remotes.map((r) => r.relationId))], hostName, hostContext };
  },
  async publish(state, { facts }, served, { backend, machine }) {
    const { address, config } = facts;
    await configureNrpe(backend, machine, state, {
      unitName: facts.unitName,
      plugin: checkPlugin(),
      args: [
        `--host=${address}`,
        `--port=${served.port}`,
        ...(served.tlsOn ? ['--ssl', ...(served.caPath ? [`--ca-file=${served.caPath}`] : [])] : []),
        `--health-url=http://${address}:${config['debug-port']}/debug/health`,
      ],
      servicegroups: config.nagios_servicegroups,
    });
  },
};
