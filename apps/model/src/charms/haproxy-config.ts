/** The haproxy.cfg the model's haproxy charm writes, and haproxy's own verdict on it. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

/** For an operator (and a test) to ask haproxy which servers it has up: `show stat`. */
export const STATS_SOCKET = '/run/haproxy/admin.sock';
export const PROMETHEUS_PORT = 8404;

/**
 * The real charm's global and defaults sections, with what the model changes said: its TLS cipher settings
 * and syslog target are left out (nothing here terminates TLS or logs to syslog), its Prometheus frontend is
 * bound to the unit's address (units share this host), and a stats socket is added for operators and tests to
 * see which servers haproxy has up (`show stat`).
 */
export function render(stanzas: string[], address: string, path: (p: string) => string): string {
  return [
    'global',
    '    maxconn 4096',
    // haproxy drops to its own user when started as root, as the real service does.
    ...(process.getuid?.() === 0 ? ['    user haproxy', '    group haproxy'] : []),
    `    stats socket ${path(STATS_SOCKET)} mode 600 level admin`,
    '',
    'defaults',
    '    mode http',
    '    option httplog',
    '    option dontlognull',
    '    retries 3',
    '    timeout queue 20000',
    '    timeout connect 5000',
    '    timeout server 50000',
    '',
    'frontend prometheus',
    `    bind ${address}:${PROMETHEUS_PORT}`,
    '    mode http',
    '    http-request use-service prometheus-exporter if { path /metrics }',
    '    no log',
    '',
    ...stanzas.map((s) => `${s}\n`),
    'backend default',
    '    http-request return status 200 content-type "text/plain" string "Default page for the haproxy-operator charm"',
    '',
  ].join('\n');
}

/** haproxy -c on the text: undefined when it passes, else haproxy's first alert. */
export async function check(text: string): Promise<string | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'haproxy-check-'));
  try {
    await writeFile(join(dir, 'haproxy.cfg'), text);
    const checked = await execa('haproxy', ['-c', '-f', join(dir, 'haproxy.cfg')], {
      reject: false,
      all: true,
    });
    if (checked.exitCode === 0) return undefined;
    const lines = (checked.all ?? '').trim().split('\n');
    // One line in haproxy's words, naming the file as the unit has it rather than the temporary copy.
    return (lines.find((l) => l.includes('ALERT')) ?? lines[0] ?? 'rejected')
      .replace(/^\[ALERT\]\s*(\(\d+\)\s*:\s*)?/, '')
      .replace(/\[[^\]]*\/haproxy\.cfg:(\d+)\]/, 'haproxy.cfg line $1');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
