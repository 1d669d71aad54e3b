#!/usr/bin/env node
/**
 * The model's haproxy charm: every service the reverseproxy relations publish (the `services` YAML of the http
 * interface) becomes a `listen` section of haproxy.cfg, served by Debian's haproxy in master-worker mode on
 * the unit's own address and reloaded (SIGUSR2) when the services change. A config haproxy refuses blocks the
 * unit and leaves the running one in place.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Charm, dispatch, Machine } from '@regop/ops';
import { execa } from 'execa';
import { parse } from 'yaml';
import * as z from 'zod';

const CONFIG = '/etc/haproxy/haproxy.cfg';
const SERVICE = 'haproxy';
const STATS_SOCKET = '/run/haproxy/admin.sock';

const servicesSchema = z.array(
  z.object({
    service_name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'must be a name'),
    service_host: z.string().default('0.0.0.0'),
    service_port: z.coerce.number().int().min(1).max(65535),
    service_options: z.array(z.string()).default([]),
    servers: z
      .array(z.tuple([z.string(), z.string(), z.coerce.number().int(), z.string().default('')]))
      .default([]),
  }),
);
type Service = z.output<typeof servicesSchema>[number];

/** Each remote application's services, later units' lists replacing earlier ones of the same name. */
async function collectServices(ctx: Parameters<Charm>[0]) {
  const { backend } = ctx;
  const services = new Map<string, Service>();
  const cas = new Map<string, string>();
  const problems: string[] = [];
  for (const id of await backend.relationIds('reverseproxy'))
    for (const unit of await backend.relationList(id)) {
      const data = await backend.relationGet(id, unit);
      if (!data.services) continue;
      let parsed: unknown;
      try {
        parsed = parse(data.services);
      } catch (err) {
        problems.push(
          `reverseproxy: services from ${unit} are not YAML (${(err as Error).message.split('\n')[0]})`,
        );
        continue;
      }
      const result = servicesSchema.safeParse(parsed);
      if (!result.success) {
        problems.push(`reverseproxy: services from ${unit} are invalid (${result.error.issues[0]?.message})`);
        continue;
      }
      for (const service of result.data) {
        services.set(service.service_name, service);
        if (data.tls_ca) cas.set(service.service_name, data.tls_ca);
      }
    }
  return { services: [...services.values()], cas, problems };
}

/** haproxy.cfg for the services; files a server option names (ca-file) are taken on this machine. */
function render(services: Service[], bind: (host: string) => string, path: (p: string) => string): string {
  const lines = [
    'global',
    '    maxconn 4096',
    // For an operator (and a test) to see which servers haproxy has up: `show stat` on this socket.
    `    stats socket ${path(STATS_SOCKET)} mode 600 level admin`,
    '',
    'defaults',
    '    timeout connect 5s',
    '    timeout client 10m',
    '    timeout server 10m',
    '    retries 3',
    '',
  ];
  for (const s of services) {
    lines.push(`listen ${s.service_name}`, `    bind ${bind(s.service_host)}:${s.service_port}`);
    for (const option of s.service_options) lines.push(`    ${option}`);
    for (const [name, address, port, options] of s.servers)
      lines.push(
        `    server ${name} ${address}:${port} ${options.replace(/\bca-file (\S+)/, (_m, f: string) => `ca-file ${path(f)}`)}`.trimEnd(),
      );
    lines.push('');
  }
  return lines.join('\n');
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
    const { services, cas, problems } = await collectServices(ctx);
    if (problems.length) {
      for (const p of problems) await backend.log(p, 'WARNING');
      await backend.statusSet('blocked', problems[0] as string);
      return;
    }
    if (services.length === 0) {
      await machine.services.remove(SERVICE);
      await backend.statusSet('waiting', 'Waiting for services over reverseproxy.');
      return;
    }
    // In the local model every unit shares the host: 0.0.0.0 becomes the unit's own address.
    const bind = (host: string) => (machine.isolated && host === '0.0.0.0' ? address : host);
    for (const s of services) {
      const caFile = s.servers.map(([, , , o]) => /\bca-file (\S+)/.exec(o)?.[1]).find(Boolean);
      const ca = cas.get(s.service_name);
      if (caFile && ca) await machine.write(caFile, ca);
    }
    const text = render(services, bind, (p) => machine.path(p));
    // Check before replacing: a config haproxy refuses must not take down the one serving.
    const dir = await mkdtemp(join(tmpdir(), 'haproxy-check-'));
    await writeFile(join(dir, 'haproxy.cfg'), text);
    const checked = await execa('haproxy', ['-c', '-q', '-f', join(dir, 'haproxy.cfg')], {
      reject: false,
      all: true,
    });
    await rm(dir, { recursive: true, force: true });
    if (checked.exitCode !== 0) {
      const reason =
        (checked.all ?? '')
          .trim()
          .split('\n')
          .find((l) => l.includes('ALERT')) ?? 'rejected';
      await backend.statusSet('blocked', `haproxy refused the configuration: ${reason}`);
      return;
    }
    await mkdir(machine.path('/run/haproxy'), { recursive: true });
    const changed = await machine.write(CONFIG, text);
    const installed = await machine.services.install({
      name: SERVICE,
      description: 'haproxy',
      command: ['haproxy', '-W', '-db', '-f', machine.path(CONFIG)],
      env: {},
      reloadSignal: 'SIGUSR2',
    });
    if (installed || !(await machine.services.running(SERVICE))) await machine.services.restart(SERVICE);
    else if (changed) await machine.services.reload(SERVICE);
    for (const s of services) await backend.openPort(s.service_port);
    await backend.statusSet(
      'active',
      `Serving ${services.map((s) => `${s.service_name} on ${bind(s.service_host)}:${s.service_port}`).join(', ')}.`,
    );
  };

process.exitCode = await dispatch(haproxyCharm(Machine.fromEnv(process.env, 'haproxy')));
