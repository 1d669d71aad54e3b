#!/usr/bin/env node
/**
 * The model's haproxy charm, standing in for Canonical's haproxy charm on its legacy `reverseproxy` path:
 * the relation data becomes haproxy.cfg exactly as that charm renders it (haproxy-legacy.ts), checked with
 * `haproxy -c` before it replaces the running one, and served by Debian's haproxy in master-worker mode on the
 * unit's own address, reloaded (SIGUSR2) when it changes. A configuration haproxy refuses blocks the unit
 * with haproxy's own message (the real charm's hook fails there) and leaves the running one in place.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type Charm, dispatch, Machine } from '@regop/ops';
import { ensureServing } from './daemon.js';
import { check, PROMETHEUS_PORT, render, STATS_SOCKET } from './haproxy-config.js';
import {
  LegacyRenderError,
  type RemoteSettings,
  serviceStanza,
  servicesFromRelationData,
} from './haproxy-legacy.js';

const CONFIG = '/etc/haproxy/haproxy.cfg';
const SERVICE = 'haproxy';

/** Every unit's settings on every reverseproxy relation, as the charm reads them. */
async function relationData(ctx: Parameters<Charm>[0]): Promise<RemoteSettings[]> {
  const { backend } = ctx;
  const units: RemoteSettings[] = [];
  for (const id of await backend.relationIds('reverseproxy'))
    for (const unit of await backend.relationList(id))
      units.push({ unit, data: await backend.relationGet(id, unit) });
  return units;
}

const haproxyCharm =
  (machine: Machine): Charm =>
  async (ctx) => {
    const { backend, event } = ctx;
    if (event.name === 'stop' || event.name === 'remove') {
      await machine.services.remove(SERVICE);
      return;
    }
    const address = await backend.privateAddress();
    // The real charm tells the backends where it is reached (HTTPRequirer on relation-joined).
    for (const id of await backend.relationIds('reverseproxy'))
      await backend.relationSet(id, { 'public-address': address });
    let services: ReturnType<typeof servicesFromRelationData>;
    let stanzas: string[];
    try {
      // In the local model every unit shares the host: 0.0.0.0 becomes the unit's own address.
      services = servicesFromRelationData(await relationData(ctx)).map((s) => ({
        ...s,
        service_host: machine.isolated && s.service_host === '0.0.0.0' ? address : s.service_host,
      }));
      stanzas = services.map(serviceStanza);
    } catch (err) {
      if (!(err instanceof LegacyRenderError)) throw err;
      await backend.log(`reverseproxy: ${err.message}`, 'ERROR');
      await backend.statusSet('blocked', `reverseproxy: ${err.message}`);
      return;
    }
    const text = render(stanzas, address, (p) => machine.path(p));
    // Checked before it replaces the running one, which keeps serving when haproxy refuses it.
    const refused = (await machine.read(CONFIG)) === text ? undefined : await check(text);
    if (refused) {
      await backend.log(`haproxy refused the configuration: ${refused}`, 'ERROR');
      await backend.statusSet('blocked', `haproxy refused the configuration: ${refused}`);
      return;
    }
    await mkdir(machine.path(dirname(STATS_SOCKET)), { recursive: true });
    const changed = await machine.write(CONFIG, text);
    const installed = await machine.services.install({
      name: SERVICE,
      description: 'haproxy',
      command: ['haproxy', '-W', '-db', '-f', machine.path(CONFIG)],
      env: {},
      reloadSignal: 'SIGUSR2',
    });
    // The Prometheus frontend is always there: haproxy answering on it has its reload handler in place.
    if (
      !(await ensureServing(
        machine,
        SERVICE,
        { host: address, port: PROMETHEUS_PORT },
        { installed, changed },
      ))
    ) {
      await backend.statusSet(
        'blocked',
        `haproxy is not answering: ${await machine.services.lastWords(SERVICE)}`,
      );
      return;
    }
    for (const s of services) await backend.openPort(Number(s.service_port));
    await backend.statusSet(
      'active',
      services.length
        ? `Serving ${services.map((s) => `${s.service_name} on ${String(s.service_host)}:${String(s.service_port)}`).join(', ')}.`
        : 'Serving the default page: no backend servers over reverseproxy.',
    );
  };

process.exitCode = await dispatch(haproxyCharm(Machine.fromEnv(process.env, 'haproxy')));
