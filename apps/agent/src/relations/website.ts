/**
 * The `website` relation (interface http) to a reverse proxy such as haproxy. Every unit publishes where it
 * listens; the leader publishes `services`, the YAML the haproxy charm renders: one service of the
 * application's units, the lowest-numbered unit primary and the others `backup`. A proxy's address becomes the
 * net location clients are told.
 */
import type { Backend } from '@regop/ops';
import { Document } from 'yaml';
import { addressOf, byUnitNumber, remoteUnits } from './remote.js';

export const WEBSITE = 'website';

/** The proxies related over website: their addresses, in unit order. */
export async function proxyAddresses(backend: Backend): Promise<string[]> {
  const units = (await remoteUnits(backend, WEBSITE)).sort((a, b) => byUnitNumber(a.unit, b.unit));
  return [...new Set(units.map((u) => addressOf(u.data)).filter((a): a is string => !!a))];
}

export interface Server {
  unit: string;
  address: string;
}

const CHECK = 'check inter 2000 rise 2 fall 5 maxconn 4096';

/**
 * The services YAML for haproxy. With TLS on the proxy passes TLS through (mode tcp) and checks each server over
 * TLS, verifying it against `caPath` on the proxy's machine. `check-ssl` (not `ssl`, which would wrap the
 * client's TLS in a second session) makes only the health checks speak TLS.
 */
export function servicesYaml(app: string, port: number, servers: Server[], tls?: { caPath: string }): string {
  const sorted = [...servers].sort((a, b) => byUnitNumber(a.unit, b.unit));
  const tlsCheck = tls ? ` check-ssl verify required ca-file ${tls.caPath}` : '';
  const doc = new Document([
    {
      service_name: app,
      service_host: '0.0.0.0',
      service_port: port,
      service_options: [
        `mode ${tls ? 'tcp' : 'http'}`,
        'balance leastconn',
        'option httpchk GET / HTTP/1.0',
        // A request refused by a unit that just went down goes to the next one instead of failing.
        'option redispatch',
      ],
      servers: sorted.map((s, i) => [
        s.unit.replace('/', '-'),
        s.address,
        port,
        `${CHECK}${i === 0 ? '' : ' backup'}${tlsCheck}`,
      ]),
    },
  ]);
  // Each server on one line, `- [name, ip, port, options]`, as the haproxy charm's examples write them.
  for (const server of (doc.getIn([0, 'servers'], true) as { items: { flow?: boolean }[] }).items)
    server.flow = true;
  return doc.toString({ lineWidth: 0 });
}

/**
 * Publishes this unit's address and port on every website relation, and the services (leader only; others
 * clear theirs, so a former leader's list never lingers). With TLS the CA goes along as `tls_ca`, for the
 * proxy to verify the servers with.
 */
export async function publishWebsite(
  backend: Backend,
  unit: { address: string; port: number },
  leader: { services: string; ca?: string } | undefined,
): Promise<void> {
  for (const id of await backend.relationIds(WEBSITE))
    await backend.relationSet(id, {
      hostname: unit.address,
      'private-address': unit.address,
      port: String(unit.port),
      services: leader?.services ?? null,
      tls_ca: leader?.ca ?? null,
    });
}
