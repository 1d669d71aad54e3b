import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { CharmConfig, OptionProblem } from './options.js';

export interface TlsFiles {
  ca?: string;
  cert: string;
  key: string;
}

const PEM = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+?-----END \1-----/;

/** A base64 option decoded to PEM text, or the reason it is not one. */
function decodePem(value: string): { pem?: string; reason?: string } {
  const compact = value.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact) || compact.length % 4 !== 0) return { reason: 'is not base64' };
  const pem = Buffer.from(compact, 'base64').toString('utf8');
  if (!PEM.test(pem)) return { reason: 'is base64 but not PEM' };
  return { pem };
}

/** Which part of a certificate, key and CA triple a problem is with. */
export type TlsPart = 'cert' | 'key' | 'ca';

/**
 * Checks PEM texts wherever they came from (options, a TLS provider): a certificate valid now, a key that
 * matches it and a CA that issued it. Returns the problems, each with its part and reason.
 */
export function checkTlsPems(
  pems: { cert?: string; key?: string; ca?: string },
  now = new Date(),
): { part: TlsPart; reason: string }[] {
  const problems: { part: TlsPart; reason: string }[] = [];
  let cert: X509Certificate | undefined;
  if (pems.cert) {
    try {
      cert = new X509Certificate(pems.cert);
      if (new Date(cert.validTo) < now)
        problems.push({ part: 'cert', reason: `certificate expired on ${cert.validTo}` });
      else if (new Date(cert.validFrom) > now)
        problems.push({ part: 'cert', reason: `certificate is not valid before ${cert.validFrom}` });
    } catch {
      problems.push({ part: 'cert', reason: 'is not an X.509 certificate' });
    }
  }
  if (pems.key) {
    try {
      const key = createPrivateKey(pems.key);
      if (cert && !cert.checkPrivateKey(key))
        problems.push({ part: 'key', reason: 'does not match the certificate' });
    } catch {
      problems.push({ part: 'key', reason: 'is not a private key' });
    }
  }
  if (pems.ca) {
    try {
      const ca = new X509Certificate(pems.ca);
      if (cert && !cert.checkIssued(ca) && cert.fingerprint256 !== ca.fingerprint256)
        problems.push({ part: 'ca', reason: 'did not issue the certificate' });
    } catch {
      problems.push({ part: 'ca', reason: 'is not an X.509 certificate' });
    }
  }
  return problems;
}

const OPTION = { cert: 'tls-cert-blob', key: 'tls-key-blob', ca: 'tls-ca-blob' } as const;

/**
 * Checks the tls-*-blob options: base64 of PEM, then checkTlsPems. Returns the decoded files (undefined when no
 * blobs are set) and the problems found, each naming its option.
 */
export function checkTlsBlobs(
  config: CharmConfig,
  now = new Date(),
): { files?: TlsFiles; problems: OptionProblem[] } {
  const problems: OptionProblem[] = [];
  const certBlob = config['tls-cert-blob'];
  const keyBlob = config['tls-key-blob'];
  const caBlob = config['tls-ca-blob'];
  if (!certBlob && !keyBlob && !caBlob) return { problems };
  if (!certBlob) problems.push({ option: 'tls-cert-blob', reason: 'is required with tls-key-blob' });
  if (!keyBlob) problems.push({ option: 'tls-key-blob', reason: 'is required with tls-cert-blob' });
  const decoded = (part: TlsPart) => {
    const option = OPTION[part];
    if (!config[option]) return undefined;
    const { pem, reason } = decodePem(config[option]);
    if (reason) problems.push({ option, reason });
    return pem;
  };
  const pems = { cert: decoded('cert'), key: decoded('key'), ca: decoded('ca') };
  for (const { part, reason } of checkTlsPems(pems, now))
    problems.push({
      option: OPTION[part],
      reason: part === 'cert' || reason.startsWith('is ') ? reason : `${reason} in tls-cert-blob`,
    });
  if (problems.length > 0 || !pems.cert || !pems.key) return { problems };
  return { files: { cert: pems.cert, key: pems.key, ...(pems.ca && { ca: pems.ca }) }, problems };
}
