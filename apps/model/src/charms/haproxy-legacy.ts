/**
 * What Canonical's haproxy charm (haproxy-operator, its legacy `reverseproxy` path, which keeps the classic
 * charm's behaviour) makes of the http interface's relation data, rule for rule, including what we wish it
 * did not do, so that the model's haproxy fails where a real deployment would:
 *
 * - every value is JSON-decoded where it parses (`port: "5000"` is the number 5000);
 * - the `services` YAML of every unit is merged by `service_name`, the first unit's keys winning and the
 *   servers of all of them kept;
 * - a unit that sends no `services` but has `port` and `private-address` becomes a server
 *   `<app>-<n>-<port>` of the service named after its application (else of the first service), with that
 *   service's `server_options` and no health check of its own;
 * - only when no unit sends `services`, a default `haproxy_service` on port 80 takes such units;
 * - each service becomes a `frontend haproxy-<port>` and a `backend <service_name>`: `mode` and the log
 *   options go to both, the options haproxy allows only in a frontend go there, the rest to the backend;
 * - server options are copied as they are (nothing checks that a file they name exists), `{i}` becomes the
 *   server's index, and no other key (`tls_ca`, `hostname`) is read.
 * Left out: apache2's `all_services` (read when a unit sends no `services`) and the `errorfiles`, `crts` and
 * `backends` keys of a service, which no charm related in this model sends.
 */
import { parse } from 'yaml';

/** A unit on the other side of reverseproxy and its settings as Juju hands them over (strings). */
export interface RemoteSettings {
  unit: string;
  data: Record<string, string>;
}

type ServerEntry = [name: unknown, host: unknown, port: unknown, options: unknown];

interface Service {
  service_name: string;
  service_host?: unknown;
  service_port?: unknown;
  service_options?: string[];
  server_options?: unknown;
  servers?: ServerEntry[];
  [key: string]: unknown;
}

/** A hook of the real charm would raise: the message says what it tripped on. */
export class LegacyRenderError extends Error {}

const DEFAULT_SERVICE: Service = {
  service_name: 'haproxy_service',
  service_host: '0.0.0.0',
  service_port: 80,
  service_options: ['balance leastconn', 'cookie SRVNAME insert'],
  server_options: ['maxconn 100 cookie S{i} check'],
};

/** Options copied to both sections when the service names one of them (the charm's `dupe_options`). */
const BOTH = ['mode tcp', 'option tcplog', 'mode http', 'option httplog'];

/** Options haproxy takes only in a frontend (the charm's `frontend_only_options`, matched as prefixes). */
const FRONTEND_ONLY = [
  'acl',
  'backlog',
  'bind',
  'capture cookie',
  'capture request header',
  'capture response header',
  'clitimeout',
  'default_backend',
  'http-request',
  'maxconn',
  'monitor fail',
  'monitor-net',
  'monitor-uri',
  'option accept-invalid-http-request',
  'option clitcpka',
  'option contstats',
  'option dontlog-normal',
  'option dontlognull',
  'option http-use-proxy-header',
  'option log-separate-errors',
  'option logasap',
  'option socket-stats',
  'option tcp-smart-accept',
  'rate-limit sessions',
  'redirect',
  'tcp-request content accept',
  'tcp-request content reject',
  'tcp-request inspect-delay',
  'timeout client',
  'timeout clitimeout',
  'use_backend',
];

const jsonOrText = (value: string): unknown => {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
};

const commaSplit = (value: string) =>
  value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);

const sameEntry = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The first service's keys win; servers are the union of both, exact duplicates dropped. */
function mergeService(old: Service | undefined, added: Service): Service {
  if (!old) return added;
  const merged: Service = { ...added, ...old };
  if (old.servers && added.servers)
    merged.servers = [
      ...old.servers,
      ...added.servers.filter((s) => !old.servers?.some((o) => sameEntry(o, s))),
    ];
  return merged;
}

function parseServices(services: Map<string, Service>, text: unknown, unit: string): void {
  if (typeof text !== 'string')
    throw new LegacyRenderError(`services from ${unit} is not YAML text (it decodes as JSON)`);
  let parsed: unknown;
  try {
    parsed = parse(text);
  } catch (err) {
    throw new LegacyRenderError(
      `services from ${unit} is not YAML (${(err as Error).message.split('\n')[0]})`,
    );
  }
  if (parsed === null || parsed === undefined) return;
  if (!Array.isArray(parsed)) throw new LegacyRenderError(`services from ${unit} is not a list`);
  for (const item of parsed as Record<string, unknown>[]) {
    if (typeof item !== 'object' || item === null || !('service_name' in item))
      throw new LegacyRenderError(`a service from ${unit} has no service_name`);
    const service = { ...item } as Service;
    if (typeof service.service_options === 'string')
      service.service_options = commaSplit(service.service_options);
    if (typeof service.server_options === 'string')
      service.server_options = commaSplit(service.server_options);
    services.set(service.service_name, mergeService(services.get(service.service_name), service));
  }
}

/** Services missing a host or port get 0.0.0.0 and a port two above the highest one taken. */
function ensureHostPort(services: Service[]): void {
  const sorted = [...services].sort((a, b) => (a.service_name < b.service_name ? -1 : 1));
  const missing = sorted.filter((s) => s.service_host === undefined || s.service_port === undefined);
  const seen = sorted
    .filter((s) => !missing.includes(s))
    .map((s) => [String(s.service_host), Number(s.service_port)] as const)
    .sort((a, b) => (a[0] === b[0] ? a[1] - b[1] : a[0] < b[0] ? -1 : 1));
  let last = seen.at(-1)?.[1];
  if (missing.length && last === undefined) throw new LegacyRenderError('no service has a service_port');
  for (const s of missing) {
    last = (last as number) + 2;
    s.service_host = '0.0.0.0';
    s.service_port = last;
  }
}

/** The services the relation data describes, in the order the charm renders them (none: nothing to serve). */
export function servicesFromRelationData(units: RemoteSettings[]): Service[] {
  const decoded = units.map(({ unit, data }) => ({
    unit,
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, jsonOrText(v)])),
  }));
  const services = new Map<string, Service>();
  if (decoded.every((u) => !('services' in u.data)))
    services.set(DEFAULT_SERVICE.service_name, { ...DEFAULT_SERVICE });
  for (const { unit, data } of decoded) if ('services' in data) parseServices(services, data.services, unit);
  if (services.size === 0) return [];
  const first = services.keys().next().value as string;

  for (const { unit, data } of decoded) {
    if ('services' in data || !('port' in data) || !('private-address' in data)) continue;
    const app = unit.split('/')[0] as string;
    const name = `${unit.replace('/', '-')}-${String(data.port)}`;
    const targets = new Set<string>();
    if ('service_name' in data) {
      if (!services.has(String(data.service_name))) continue;
      targets.add(String(data.service_name));
    }
    for (const site of typeof data.sitenames === 'string' ? data.sitenames.split(/\s+/) : [])
      if (services.has(site)) targets.add(site);
    if (services.has(`${app}_service`)) targets.add(`${app}_service`);
    if (services.has(app)) targets.add(app);
    if (targets.size === 0) targets.add(first);
    for (const target of targets) {
      const service = services.get(target) as Service;
      service.servers = [
        ...(service.servers ?? []),
        [name, data['private-address'], data.port, service.server_options ?? []],
      ];
    }
  }
  const list = [...services.values()];
  if (!list.some((s) => s.servers?.length)) return [];
  ensureHostPort(list);
  return list;
}

const startsWithAny = (option: string, prefixes: string[]) =>
  prefixes.some((p) => option.trim().startsWith(p));

function serverLine(entry: unknown, index: number, service: string): string {
  if (!Array.isArray(entry) || entry.length !== 4)
    throw new LegacyRenderError(`a server of ${service} is not [name, host, port, options]`);
  const [name, host, port, options] = entry as ServerEntry;
  let line = `    server ${String(name)} ${String(host)}:${String(port)}`;
  if (options !== null && options !== undefined)
    line += ` ${typeof options === 'string' ? options : (options as unknown[]).join(' ')}`;
  // Python's str.format(i=...) on the whole line: {i} is the index, any other brace raises.
  line = line.replaceAll('{i}', String(index));
  if (/[{}]/.test(line)) throw new LegacyRenderError(`a server line of ${service} has braces other than {i}`);
  return line;
}

/** One service's `frontend haproxy-<port>` and `backend <name>` sections. */
export function serviceStanza(service: Service): string {
  const options = service.service_options ?? [];
  const frontend: string[] = [];
  const backend: string[] = [];
  for (const o of BOTH)
    if (options.some((opt) => o.startsWith(opt))) {
      frontend.push(o);
      backend.push(o);
    }
  for (const o of options) {
    const out = startsWithAny(o, FRONTEND_ONLY) ? frontend : backend;
    if (!out.includes(o)) out.push(o);
  }
  const lines = [
    `frontend haproxy-${String(service.service_port)}`,
    `    bind ${String(service.service_host)}:${String(service.service_port)}`,
    `    default_backend ${service.service_name}`,
    ...frontend.map((o) => `    ${o.trim()}`),
    '',
    `backend ${service.service_name}`,
    ...backend.map((o) => `    ${o.trim()}`),
    ...(service.servers ?? []).map((s, i) => serverLine(s, i, service.service_name)),
  ];
  return lines.join('\n');
}
