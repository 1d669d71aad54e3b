#!/usr/bin/env node
/**
 * The model's nrpe subordinate: Debian's nagios-nrpe-server on its principal's machine and address, serving
 * the commands the principal writes into /etc/nagios/nrpe.d/ (included from its nrpe.cfg). It reloads
 * (SIGHUP) when the principal touches the relation's timestamp. NRPE refuses to run as root: it drops to the
 * nagios user, so the checks run as that user.
 */
import { type CharmContext, dispatch, Machine } from '@regop/ops';

const CONFIG = '/etc/nagios/nrpe.cfg';
const SERVICE = 'nrpe';

async function nrpe(ctx: CharmContext, machine: Machine) {
  const { backend, event } = ctx;
  if (event.name === 'stop' || event.name === 'remove') {
    await machine.services.remove(SERVICE);
    return;
  }
  const config = await backend.configGet();
  const address = await backend.privateAddress();
  const port = Number(config.server_port ?? 5666);
  await machine.write('/etc/nagios/nrpe.d/.keep', '');
  const text = [
    `server_address=${address}`,
    `server_port=${port}`,
    `allowed_hosts=${config.allowed_hosts ?? '127.0.0.0/8'}`,
    'nrpe_user=nagios',
    'nrpe_group=nagios',
    'dont_blame_nrpe=0',
    'command_timeout=60',
    'connection_timeout=300',
    `include_dir=${machine.path('/etc/nagios/nrpe.d')}/`,
    '',
  ].join('\n');
  const changed = await machine.write(CONFIG, text);
  const installed = await machine.services.install({
    name: SERVICE,
    description: 'NRPE',
    command: ['nrpe', '-c', machine.path(CONFIG), '-f'],
    env: {},
    reloadSignal: 'SIGHUP',
  });
  // Any relation hook may mean new or changed checks: re-read them.
  if (installed || !(await machine.services.running(SERVICE))) await machine.services.restart(SERVICE);
  else if (changed || (event.kind === 'hook' && event.relation)) await machine.services.reload(SERVICE);
  await backend.openPort(port);
  await backend.statusSet('active', `Ready on ${address}:${port}.`);
}

const machine = Machine.fromEnv(process.env, 'nrpe');
process.exitCode = await dispatch((ctx) => nrpe(ctx, machine));
