/**
 * The `website` relation (interface http) to a reverse proxy such as haproxy. Only the leader speaks for the
 * application: it publishes `services`, the YAML the haproxy charm renders (one service of the application's
 * units, the lowest-numbered unit primary and the others `backup`), and its own `hostname`/`port`. Followers
 * clear all of it (Canonical's charm, in `validate_follower_reverseproxy`, clears `hostname`, `port` and
 * `all_services`; we clear `private-address` and `services` too): haproxy's legacy renderer turns
 * every unit that sends `port` and `private-address` but no `services` into an extra *active* server with no
 * health check, which would split uploads between units. A proxy's address becomes the net location clients
 * are told.
 */
import type { Backend } from '@regop/ops';
import { Document } from 'yaml';
import type { RelationModule } from './relation.js';
import { addressOf, byUnitNumber, type RemoteUnit } from './remote.js';

export const WEBSITE = 'website';

/** The proxies related over website: their addresses, in unit order. */
export function proxiesOf(remotes: RemoteUnit[]): string[] {
  const units = [...remotes].sort((a, b) => byUnitNumber(a.unit, b.unit));
  return [...new Set(units.map((u) => addressOf(u.data)).filter((a): a is string => !!a))];
}

export interface Server {
  unit: string;
  address: string;
}

/**
 * Health checks every second, down after two failures (within 2 s of a unit stopping), and as soon as two
 * client connections to it fail (`observe layer4`; one transient error does not move uploads to a unit that
 * may not share their storage): the retries then go to the backup.
 */
const CHECK =
  'check inter 1000 fastinter 500 downinter 1000 rise 2 fall 2 observe layer4 error-limit 2 on-error mark-down maxconn 4096';

/**
 * The services YAML for haproxy. With TLS on, the proxy passes TLS through (mode tcp) and its health checks
 * speak TLS (`check-ssl`; `ssl` would wrap the client's TLS in a second session). They cannot verify the
 * unit's certificate: a `ca-file` would have to be a file on the proxy's machine, and the http interface has
 * no way to put one there (haproxy refuses a configuration naming a missing file). Clients verify the
 * certificate themselves, end to end. Every option here is one the haproxy charm's renderer copies as it is.
 */
export function servicesYaml(app: string, port: number, servers: Server[], tls = false): string {
  const sorted = [...servers].sort((a, b) => byUnitNumber(a.unit, b.unit));
  const doc = new Document([
    {
      service_name: app,
      service_host: '0.0.0.0',
      service_port: port,
      service_options: [
        `mode ${tls ? 'tcp' : 'http'}`,
        'balance leastconn',
        'option httpchk GET / HTTP/1.0',
        // A connection a unit refuses is retried, each retry on another server: the backup once the
        // primary is marked down (which observe layer4 does on the first refusal).
        'retries 3',
        'option redispatch 1',
        // And in HTTP mode a small request (one that fits haproxy's buffer: a pull, a HEAD, a manifest, an
        // upload's start or end) that a dying unit took but never answered is sent again; a pull or a
        // digest-checked PUT may be replayed. A large PATCH is not: the client sees the failure.
        ...(tls ? [] : ['retry-on conn-failure empty-response']),
      ],
      servers: sorted.map((s, i) => [
        s.unit.replace('/', '-'),
        s.address,
        port,
        `${CHECK}${i === 0 ? '' : ' backup'}${tls ? ' check-ssl verify none' : ''}`,
      ]),
    },
  ]);
  // Each server on one line, `- [name, ip, port, options]`, as the haproxy charm's examples write them.
  for (const server of (doc.getIn([0, 'servers'], true) as { items: { flow?: boolean }[] }).items)
    server.flow = true;
  return doc.toString({ lineWidth: 0 });
}

/**
 * The leader publishes the services and where it listens on every website relation; a follower clears every
 * key (a former leader's list and address must not linger either).
 */
export async function publishWebsite(
  backend: Backend,
  leader: { address: string; port: number; services: string } | undefined,
): Promise<void> {
  for (const id of await backend.relationIds(WEBSITE))
    await backend.relationSet(id, {
      hostname: leader?.address ?? null,
      'private-address': leader?.address ?? null,
      port: leader ? String(leader.port) : null,
      services: leader?.services ?? null,
      // Never ours to send: apache2's key, which the renderer reads when `services` is absent.
      all_services: null,
      // No longer sent: the proxy cannot use a CA it would have to write somewhere itself.
      tls_ca: null,
    });
}

/** The proxies in front of the unit, and the leader's services for them (see above). */
export const website: RelationModule<{ proxies: string[] }> = {
  endpoint: WEBSITE,
  gather: (remotes) => ({ proxies: proxiesOf(remotes) }),
  publish(_state, { facts, relations }, served, { backend }) {
    if (!facts.leader) return publishWebsite(backend, undefined);
    const servers = [{ unit: facts.unitName, address: facts.address }, ...relations.peer.units];
    return publishWebsite(backend, {
      address: facts.address,
      port: served.port,
      services: servicesYaml(facts.appName, served.port, servers, served.tlsOn),
    });
  },
};
