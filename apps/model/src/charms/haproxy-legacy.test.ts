import { describe, expect, it } from 'vitest';
import { LegacyRenderError, serviceStanza, servicesFromRelationData } from './haproxy-legacy.js';

const SERVICES = `- service_name: docker-registry
  service_host: 0.0.0.0
  service_port: 5000
  service_options: [mode http, balance leastconn, option httpchk GET / HTTP/1.0, timeout client 1m]
  servers:
  - [docker-registry-0, 10.0.0.1, 5000, check inter 2000 rise 2 fall 5 maxconn 4096]
  - [docker-registry-1, 10.0.0.2, 5000, check inter 2000 rise 2 fall 5 maxconn 4096 backup]
`;
const follower = { 'private-address': '10.0.0.2', hostname: '10.0.0.2', port: '5000' };

describe("haproxy's legacy rendering of reverseproxy data", () => {
  it('makes a follower that still sends a port an active server with no check, beside the pair', () => {
    const services = servicesFromRelationData([
      {
        unit: 'docker-registry/0',
        data: { 'private-address': '10.0.0.1', port: '5000', services: SERVICES },
      },
      { unit: 'docker-registry/1', data: follower },
    ]);
    expect(services.map(serviceStanza)).toEqual([
      [
        'frontend haproxy-5000',
        '    bind 0.0.0.0:5000',
        '    default_backend docker-registry',
        '    mode http',
        '    timeout client 1m',
        '',
        'backend docker-registry',
        '    mode http',
        '    balance leastconn',
        '    option httpchk GET / HTTP/1.0',
        '    server docker-registry-0 10.0.0.1:5000 check inter 2000 rise 2 fall 5 maxconn 4096',
        '    server docker-registry-1 10.0.0.2:5000 check inter 2000 rise 2 fall 5 maxconn 4096 backup',
        // The port was JSON-decoded; the service has no server_options, so nothing follows but a space.
        '    server docker-registry-1-5000 10.0.0.2:5000 ',
      ].join('\n'),
    ]);
  });

  it("renders exactly the leader's servers when followers send nothing", () => {
    const services = servicesFromRelationData([
      { unit: 'docker-registry/0', data: { services: SERVICES } },
      { unit: 'docker-registry/1', data: { 'egress-subnets': '10.0.0.2/32' } },
    ]);
    expect(services[0]?.servers?.map((s) => s[0])).toEqual(['docker-registry-0', 'docker-registry-1']);
  });

  it("merges services of one name, the first unit's options winning and every server kept", () => {
    const other = SERVICES.replace('balance leastconn', 'balance roundrobin').replaceAll(
      '10.0.0.',
      '10.1.0.',
    );
    const [service] = servicesFromRelationData([
      { unit: 'a/0', data: { services: SERVICES } },
      { unit: 'a/1', data: { services: other } },
    ]);
    expect(service?.service_options).toContain('balance leastconn');
    expect(service?.servers).toHaveLength(4);
  });

  it('puts units without services under a default service on port 80 when nobody sends services', () => {
    const services = servicesFromRelationData([
      { unit: 'web/0', data: { 'private-address': '10.0.0.5', port: '8080' } },
      { unit: 'web/1', data: { 'private-address': '10.0.0.6', port: '8080' } },
    ]);
    const text = services.map(serviceStanza).join('\n');
    expect(text).toContain('frontend haproxy-80');
    expect(text).toContain('    server web-0-8080 10.0.0.5:8080 maxconn 100 cookie S0 check');
    expect(text).toContain('    server web-1-8080 10.0.0.6:8080 maxconn 100 cookie S1 check');
    expect(servicesFromRelationData([{ unit: 'web/0', data: {} }])).toEqual([]);
  });

  it('copies server options as they are, whatever file they name, and ignores tls_ca', () => {
    const tls = SERVICES.replace('mode http', 'mode tcp').replace(
      'maxconn 4096]',
      'maxconn 4096 check-ssl verify required ca-file /etc/docker/registry/ca.crt]',
    );
    const [service] = servicesFromRelationData([{ unit: 'r/0', data: { services: tls, tls_ca: 'PEM' } }]);
    const text = serviceStanza(service as never);
    expect(text).toContain('ca-file /etc/docker/registry/ca.crt');
    expect(text).toMatch(/^frontend haproxy-5000\n.*\n.*\n {4}mode tcp\n/);
  });

  it("fails as the charm's hook would on data it cannot use", () => {
    expect(() => servicesFromRelationData([{ unit: 'r/0', data: { services: '[]' } }])).toThrow(
      LegacyRenderError,
    );
    expect(() =>
      servicesFromRelationData([
        {
          unit: 'r/0',
          data: {
            services: '- {service_name: x, service_host: 0.0.0.0, service_port: 80, servers: [[a, b, 1]]}',
          },
        },
      ]).map(serviceStanza),
    ).toThrow(/not \[name, host, port, options\]/);
  });
});
