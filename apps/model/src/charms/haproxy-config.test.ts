import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { check, render } from './haproxy-config.js';
import { serviceStanza, servicesFromRelationData } from './haproxy-legacy.js';

// Debian's haproxy judges the rendering; .ci/run installs it, so in CI a missing one fails instead.
const haproxy = spawnSync('haproxy', ['-v']).status === 0;
if (!haproxy && !process.env.CI) console.warn('SKIPPED: haproxy -c checks need haproxy installed');

const services = (options: string) => `- service_name: docker-registry
  service_host: 127.0.0.1
  service_port: 5000
  service_options: [mode tcp, balance leastconn, option httpchk GET / HTTP/1.0]
  servers:
  - [docker-registry-0, 127.0.0.2, 5000, ${options}]
`;
const rendered = (options: string) =>
  render(
    servicesFromRelationData([{ unit: 'docker-registry/0', data: { services: services(options) } }]).map(
      serviceStanza,
    ),
    '127.0.0.1',
    (p) => `/tmp/regop-haproxy-config-test${p}`,
  );

describe.runIf(haproxy || process.env.CI)('haproxy -c on what the model renders', () => {
  it('accepts TLS checks that name no file', async () => {
    expect(await check(rendered('check inter 1000 rise 2 fall 2 check-ssl verify none'))).toBeUndefined();
  });

  it("refuses a ca-file the proxy's machine does not have, in haproxy's words", async () => {
    const refused = await check(
      rendered(
        'check inter 2000 rise 2 fall 5 check-ssl verify required ca-file /etc/docker/registry/ca.crt',
      ),
    );
    expect(refused).toMatch(/ca-file/);
    expect(refused).toContain('/etc/docker/registry/ca.crt');
  });
});
