/**
 * The `nrpe-external-master` relation (container scope) to an NRPE subordinate. While related, the unit keeps
 * an NRPE command running the check-registry plugin against itself in /etc/nagios/nrpe.d/ and the Nagios
 * service definition under /var/lib/nagios/export/, and touches the relation's `timestamp` when they change so
 * the subordinate reloads; when the relation goes, both files go.
 */
import type { Backend } from '@regop/ops';
import type { Machine } from '../machine.js';
import { remoteUnits } from './remote.js';

export const NRPE = 'nrpe-external-master';
export const CHECK_NAME = 'docker_registry';

export interface NrpeCheck {
  unitName: string;
  /** The plugin's command line (program and arguments). */
  command: string[];
  context: string;
  servicegroups: string;
}

export const checkFile = `/etc/nagios/nrpe.d/check_${CHECK_NAME}.cfg`;
export const serviceFile = (unitName: string) =>
  `/var/lib/nagios/export/service__${unitName.replace('/', '-')}_${CHECK_NAME}.cfg`;

const MANAGED =
  '#---------------------------------------------------\n# This file is Juju managed\n#---------------------------------------------------\n';

/** Writes or removes the check's files as the relation is there or not; says whether anything changed. */
export async function configureNrpe(backend: Backend, machine: Machine, check: NrpeCheck): Promise<boolean> {
  const remotes = await remoteUnits(backend, NRPE);
  if (remotes.length === 0) {
    const removed = await machine.remove(checkFile);
    return (await machine.remove(serviceFile(check.unitName))) || removed;
  }
  // The subordinate may name the host and context Nagios knows this machine by.
  const hostContext = remotes.map((r) => r.data.nagios_host_context).find(Boolean) || check.context || 'juju';
  const hostName =
    remotes.map((r) => r.data.nagios_hostname).find(Boolean) ||
    `${hostContext}-${check.unitName.replace('/', '-')}`;
  let changed = await machine.write(
    checkFile,
    `${MANAGED}command[${CHECK_NAME}]=${check.command.join(' ')}\n`,
  );
  changed =
    (await machine.write(
      serviceFile(check.unitName),
      [
        MANAGED.trimEnd(),
        'define service {',
        '    use                             active-service',
        `    host_name                       ${hostName}`,
        `    service_description             ${hostName} Docker registry health check`,
        `    check_command                   check_nrpe!${CHECK_NAME}`,
        `    servicegroups                   ${check.servicegroups || hostContext}`,
        '}',
        '',
      ].join('\n'),
    )) || changed;
  if (changed)
    for (const id of new Set(remotes.map((r) => r.relationId)))
      await backend.relationSet(id, { timestamp: new Date().toISOString() });
  return changed;
}
