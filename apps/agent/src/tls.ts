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

/**
 * Checks the tls-*-blob options: base64 of PEM, a certificate that is valid now, a key that matches it and a
 * CA that signed it. Returns the decoded files (undefined when no blobs are set) and the problems found.
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
  const decoded = (option: 'tls-cert-blob' | 'tls-key-blob' | 'tls-ca-blob') => {
    if (!config[option]) return undefined;
    const { pem, reason } = decodePem(config[option]);
    if (reason) problems.push({ option, reason });
    return pem;
  };
  const certPem = decoded('tls-cert-blob');
  const keyPem = decoded('tls-key-blob');
  const caPem = decoded('tls-ca-blob');
  let cert: X509Certificate | undefined;
  if (certPem) {
    try {
      cert = new X509Certificate(certPem);
      if (new Date(cert.validTo) < now)
        problems.push({ option: 'tls-cert-blob', reason: `certificate expired on ${cert.validTo}` });
      else if (new Date(cert.validFrom) > now)
        problems.push({
          option: 'tls-cert-blob',
          reason: `certificate is not valid before ${cert.validFrom}`,
        });
    } catch {
      problems.push({ option: 'tls-cert-blob', reason: 'is not an X.509 certificate' });
    }
  }
  if (keyPem) {
    try {
      const key = createPrivateKey(keyPem);
      if (cert && !cert.checkPrivateKey(key))
        problems.push({ option: 'tls-key-blob', reason: 'does not match the certificate in tls-cert-blob' });
    } catch {
      problems.push({ option: 'tls-key-blob', reason: 'is not a private key' });
    }
  }
  if (caPem) {
    try {
      const ca = new X509Certificate(caPem);
      if (cert && !cert.checkIssued(ca) && cert.fingerprint256 !== ca.fingerprint256)
        problems.push({ option: 'tls-ca-blob', reason: 'did not issue the certificate in tls-cert-blob' });
    } catch {
      problems.push({ option: 'tls-ca-blob', reason: 'is not an X.509 certificate' });
    }
  }
  if (problems.length > 0 || !certPem || !keyPem) return { problems };
  return { files: { cert: certPem, key: keyPem, ...(caPem && { ca: caPem }) }, problems };
}
