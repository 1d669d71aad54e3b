import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, type Server, startServer } from './process.js';

const run = promisify(execFile);

/** Debian's OpenLDAP server and its loader. */
export const SLAPD_BINARIES = ['slapd', 'slapadd'];

export interface Slapd {
  /** ldap://127.0.0.1:PORT */
  url: string;
  /** ldaps://127.0.0.1:PORT, when started with a certificate. */
  ldapsUrl?: string;
  /** The suffix's administrator, who may read every entry. */
  adminDn: string;
  adminPassword: string;
  /** Stops the server (its data stays); `start` brings it back on the same ports. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

export interface SlapdOptions {
  /** The directory's suffix, e.g. dc=example,dc=org. */
  suffix: string;
  /** Entries loaded with slapadd before the server starts (the suffix's own entry first). */
  ldif: string;
  /** A server certificate and key (PEM) for ldaps:// and StartTLS. */
  tls?: { certPem: string; keyPem: string };
}

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

/**
 * An OpenLDAP slapd on loopback with an mdb database in a directory of its own, loaded from LDIF and run in
 * the foreground, so it is stopped by its PID like every server a test starts.
 */
export async function startSlapd(options: SlapdOptions): Promise<Slapd> {
  const dir = await mkdtemp(join(tmpdir(), 'regop-slapd-'));
  await mkdir(join(dir, 'db'));
  const adminDn = `cn=admin,${options.suffix}`;
  const adminPassword = 'admin-secret';
  const tlsLines = options.tls
    ? [`TLSCertificateFile ${join(dir, 'server.crt')}`, `TLSCertificateKeyFile ${join(dir, 'server.key')}`]
    : [];
  if (options.tls) {
    await writeFile(join(dir, 'server.crt'), options.tls.certPem);
    await writeFile(join(dir, 'server.key'), options.tls.keyPem, { mode: 0o600 });
  }
  const config = join(dir, 'slapd.conf');
  await writeFile(
    config,
    [
      ...['core', 'cosine', 'inetorgperson', 'nis'].map((s) => `include /etc/ldap/schema/${s}.schema`),
      'modulepath /usr/lib/ldap',
      'moduleload back_mdb',
      `pidfile ${join(dir, 'slapd.pid')}`,
      ...tlsLines,
      'database mdb',
      'maxsize 16777216',
      `suffix "${options.suffix}"`,
      `rootdn "${adminDn}"`,
      `rootpw ${adminPassword}`,
      `directory ${join(dir, 'db')}`,
      '',
    ].join('\n'),
  );
  await writeFile(join(dir, 'data.ldif'), options.ldif);
  await run('slapadd', ['-f', config, '-l', join(dir, 'data.ldif')]);
  const port = await freePort();
  const tlsPort = options.tls ? await freePort() : undefined;
  const url = `ldap://127.0.0.1:${port}`;
  const ldapsUrl = tlsPort ? `ldaps://127.0.0.1:${tlsPort}` : undefined;
  let server: Server | undefined;
  const start = async () => {
    server = await startServer(
      'slapd',
      ['-f', config, '-h', [`${url}/`, ...(ldapsUrl ? [`${ldapsUrl}/`] : [])].join(' '), '-d', '0'],
      { url, name: 'slapd', ready: () => listening(port) },
    );
  };
  await start();
  return {
    url,
    ...(ldapsUrl && { ldapsUrl }),
    adminDn,
    adminPassword,
    async stop() {
      await server?.stop();
      server = undefined;
    },
    start,
  };
}
