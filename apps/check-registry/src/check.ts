/**
 * The registry health check behind check_registry: one GET of /v2/, judged as the Nagios plugin guidelines
 * ask (OK, WARNING, CRITICAL, UNKNOWN; one status line; performance data).
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';

export const Status = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 } as const;
export type StatusCode = (typeof Status)[keyof typeof Status];
const NAMES = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'] as const;

export interface CheckOptions {
  host: string;
  port: number;
  ssl: boolean;
  /** CA to verify the certificate with; the system's CAs when absent. */
  ca?: string;
  insecure: boolean;
  /** Response time thresholds, seconds. */
  warning: number;
  critical: number;
  /** Days the certificate must still be valid. */
  certWarning: number;
  certCritical: number;
  /** The debug server's /debug/health, for storage health. */
  healthUrl?: string;
  timeoutMs: number;
}

export interface CheckResult {
  code: StatusCode;
  /** The plugin's one line of output. */
  line: string;
}

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
  seconds: number;
  certificateValidTo?: Date;
}

function get(url: string, options: CheckOptions): Promise<Answer> {
  const started = process.hrtime.bigint();
  const secure = url.startsWith('https:');
  return new Promise((resolve, reject) => {
    const req = (secure ? httpsRequest : httpRequest)(
      url,
      {
        timeout: options.timeoutMs,
        headers: { 'user-agent': 'check_registry' },
        ...(secure && { ca: options.ca, rejectUnauthorized: !options.insecure }),
      },
      (res) => {
        const peer = secure ? (res.socket as TLSSocket).getPeerCertificate() : undefined;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (body.length < 4096) body += chunk;
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            seconds: Number(process.hrtime.bigint() - started) / 1e9,
            ...(peer?.valid_to && { certificateValidTo: new Date(peer.valid_to) }),
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${options.timeoutMs / 1000} s`)));
    req.on('error', reject);
    req.end();
  });
}

const CHALLENGE = /^(Basic|Bearer) +realm="[^"]*"/i;

/** Runs the check; never throws: every failure is a result. */
export async function checkRegistry(options: CheckOptions, now = new Date()): Promise<CheckResult> {
  const where = `${options.host}:${options.port}`;
  const result = (code: StatusCode, text: string, perf = ''): CheckResult => ({
    code,
    line: `REGISTRY ${NAMES[code]} - ${text}${perf ? ` | ${perf}` : ''}`,
  });
  const url = `${options.ssl ? 'https' : 'http'}://${where}/v2/`;
  let answer: Answer;
  try {
    answer = await get(url, options);
  } catch (err) {
    const code = (err as { code?: string }).code;
    return result(Status.CRITICAL, `${url}: ${code ? `${code} ` : ''}${(err as Error).message}`.trim());
  }
  if (answer.headers['docker-distribution-api-version'] !== 'registry/2.0')
    return result(
      Status.CRITICAL,
      `${url} answered ${answer.status} without Docker-Distribution-API-Version: registry/2.0: not a registry`,
    );
  const challenge = String(answer.headers['www-authenticate'] ?? '');
  if (answer.status === 401 && !CHALLENGE.test(challenge))
    return result(Status.CRITICAL, `${url} answered 401 without a valid WWW-Authenticate challenge`);
  if (answer.status !== 200 && answer.status !== 401)
    return result(Status.CRITICAL, `${url} answered ${answer.status}`);

  const problems: { code: StatusCode; text: string }[] = [];
  const time = answer.seconds;
  const perf = [`time=${time.toFixed(6)}s;${options.warning};${options.critical};0`];
  if (time >= options.critical)
    problems.push({
      code: Status.CRITICAL,
      text: `answered in ${time.toFixed(3)} s (critical ${options.critical} s)`,
    });
  else if (time >= options.warning)
    problems.push({
      code: Status.WARNING,
      text: `answered in ${time.toFixed(3)} s (warning ${options.warning} s)`,
    });
  let certText = '';
  if (answer.certificateValidTo) {
    const days = Math.floor((answer.certificateValidTo.getTime() - now.getTime()) / 86_400_000);
    perf.push(`cert_days=${days};${options.certWarning};${options.certCritical}`);
    certText = `, certificate valid ${days} more days`;
    const expiry = `certificate expires in ${days} days (${answer.certificateValidTo.toISOString()})`;
    if (days < options.certCritical) problems.push({ code: Status.CRITICAL, text: expiry });
    else if (days < options.certWarning) problems.push({ code: Status.WARNING, text: expiry });
  }
  if (options.healthUrl) {
    try {
      const health = await get(options.healthUrl, { ...options, ssl: false });
      if (health.status !== 200)
        problems.push({
          code: Status.CRITICAL,
          text: `storage unhealthy (${options.healthUrl} answered ${health.status}: ${health.body.trim().slice(0, 200)})`,
        });
    } catch (err) {
      problems.push({ code: Status.WARNING, text: `${options.healthUrl}: ${(err as Error).message}` });
    }
  }
  const auth = answer.status === 401 ? ' (authentication required)' : '';
  if (problems.length === 0)
    return result(
      Status.OK,
      `${url} answered ${answer.status}${auth} in ${time.toFixed(3)} s${certText}`,
      perf.join(' '),
    );
  const worst = Math.max(...problems.map((p) => p.code)) as StatusCode;
  return result(worst, problems.map((p) => p.text).join('; '), perf.join(' '));
}
