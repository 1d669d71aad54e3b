#!/usr/bin/env node
/**
 * The model's nrpe subordinate: Debian's nagios-nrpe-server on its principal's machine and address, serving
 * the commands the principal writes into /etc/nagios/nrpe.d/ (included from its nrpe.cfg). It reloads
 * (SIGHUP) when the principal touches the relation's timestamp. NRPE refuses to run as root: it drops to the
 * nagios user, so the checks run as that user.
 *
 * Status as charm-nrpe reports it: active only when the daemon answers on its port (a real connect), blocked
 * naming the reason otherwise. update-status only looks (a daemon that died shows as such); every other hook
 * also (re)starts it.
 */
import { type CharmContext, dispatch, Machine } from '@regop/ops';
import { execa } from 'execa';
import { ensureServing, listening } from './daemon.js';

const CONFIG = '/etc/nagios/nrpe.cfg';
const SERVICE = 'nrpe';

/**
 * Why the nagios user cannot read the checks here, if it cannot: a model kept under a private directory (a
 * home directory of mode 0700) hides the unit's nrpe.d and plugin from it, and every check would answer
 * "Unable to read output". Asked as that user, with runuser, when we are root (otherwise nrpe cannot drop to
 * nagios and runs the checks as us).
 */
async function unreadable(machine: Machine): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const dir = machine.path('/etc/nagios/nrpe.d');
  const asNagios = await execa('runuser', ['-u', 'nagios', '--', 'test', '-r', dir, '-a', '-x', dir], {
    reject: false,
  });
  if (asNagios.exitCode === 0) return undefined;
  return `the nagios user cannot read ${dir} (a directory above it is private): keep the model where other users may enter, e.g. MODEL_DIR under /srv or /tmp`;
}

async function nrpe(ctx: CharmContext, machine: Machine) {
  const { backend, event } = ctx;
  if (event.name === 'stop' || event.name === 'remove') {
    await machine.services.remove(SERVICE);
    return;
  }
  const config = await backend.configGet();
  const address = await backend.privateAddress();
  const port = Number(config.server_port ?? 5666);
  const at = { host: address, port };
  if (event.name === 'update-status') {
    await report(ctx, machine, await listening(address, port), at);
    return;
  }
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
  const serving = await ensureServing(machine, SERVICE, at, {
    installed,
    changed: changed || (event.kind === 'hook' && !!event.relation),
  });
  await backend.openPort(port);
  // As charm-nrpe: the principal learns the name Nagios knows its machine by.
  const context = String(config.nagios_host_context ?? 'juju');
  for (const id of await backend.relationIds('nrpe-external-master'))
    for (const unit of await backend.relationList(id))
      await backend.relationSet(id, {
        nagios_host_context: context,
        nagios_hostname: `${context}-${unit.replace('/', '-')}`,
      });
  await report(ctx, machine, serving, at);
}

/** Active only while the daemon answers and the nagios user can read the checks; blocked saying why otherwise. */
async function report(
  ctx: CharmContext,
  machine: Machine,
  serving: boolean,
  at: { host: string; port: number },
) {
  const hidden = await unreadable(machine);
  if (!serving) await ctx.backend.statusSet('blocked', 'nagios-nrpe-server service inactive.');
  else if (hidden) await ctx.backend.statusSet('blocked', hidden);
  else await ctx.backend.statusSet('active', `Ready on ${at.host}:${at.port}.`);
}

const machine = Machine.fromEnv(process.env, 'nrpe');
process.exitCode = await dispatch((ctx) => nrpe(ctx, machine));
