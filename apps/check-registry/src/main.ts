#!/usr/bin/env node
/** check_registry: a Nagios plugin. Exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also for usage errors). */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { checkRegistry, Status } from './check.js';

const USAGE = `usage: check_registry -H HOST [-p PORT] [-S [--ca-file FILE | -k]] [-w SECONDS] [-c SECONDS]
       [--cert-warning DAYS] [--cert-critical DAYS] [--health-url URL] [-t SECONDS]
  -H, --host           the registry's address
  -p, --port           its port (5000)
  -S, --ssl            speak HTTPS; the certificate is verified (against --ca-file, else the system's CAs)
  -k, --insecure       do not verify the certificate (its expiry is still checked)
  -w, --warning        response time for WARNING, seconds (1)
  -c, --critical       response time for CRITICAL, seconds (5)
  --cert-warning       certificate days left for WARNING (30)
  --cert-critical      certificate days left for CRITICAL (7)
  --health-url         the debug server's /debug/health, for the storage driver's health
  -t, --timeout        seconds to wait for an answer (10)
A 401 with a Basic or Bearer challenge is healthy: the registry is up and asks for credentials.`;

const VERSION = '0.1.0';

function number(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0)
    throw new Error(`--${name} expects a non-negative number, got "${value}"`);
  return n;
}

async function main(): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      options: {
        host: { type: 'string', short: 'H' },
        port: { type: 'string', short: 'p' },
        ssl: { type: 'boolean', short: 'S' },
        'ca-file': { type: 'string' },
        insecure: { type: 'boolean', short: 'k' },
        warning: { type: 'string', short: 'w' },
        critical: { type: 'string', short: 'c' },
        'cert-warning': { type: 'string' },
        'cert-critical': { type: 'string' },
        'health-url': { type: 'string' },
        timeout: { type: 'string', short: 't' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
      },
      strict: true,
    }));
  } catch (err) {
    console.log(`REGISTRY UNKNOWN - ${(err as Error).message}\n${USAGE}`);
    return Status.UNKNOWN;
  }
  if (values.help) {
    console.log(USAGE);
    return Status.UNKNOWN;
  }
  if (values.version) {
    console.log(`check_registry ${VERSION}`);
    return Status.UNKNOWN;
  }
  try {
    if (!values.host) throw new Error('-H HOST is required');
    const caFile = values['ca-file'] as string | undefined;
    const ca = caFile
      ? await readFile(caFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
          throw new Error(`cannot read --ca-file ${caFile}: ${err.code ?? err.message}`);
        })
      : undefined;
    const port = number('port', values.port as string | undefined, 5000);
    const result = await checkRegistry({
      host: values.host as string,
      port,
      ssl: values.ssl === true,
      ...(ca && { ca }),
      insecure: values.insecure === true,
      warning: number('warning', values.warning as string | undefined, 1),
      critical: number('critical', values.critical as string | undefined, 5),
      certWarning: number('cert-warning', values['cert-warning'] as string | undefined, 30),
      certCritical: number('cert-critical', values['cert-critical'] as string | undefined, 7),
      ...(values['health-url'] ? { healthUrl: values['health-url'] as string } : {}),
      timeoutMs: number('timeout', values.timeout as string | undefined, 10) * 1000,
    });
    console.log(result.line);
    return result.code;
  } catch (err) {
    console.log(`REGISTRY UNKNOWN - ${(err as Error).message}`);
    return Status.UNKNOWN;
  }
}

process.exitCode = await main();
