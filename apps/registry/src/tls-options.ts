import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ServerOptions as HttpsServerOptions } from 'node:https';
import type { SecureVersion } from 'node:tls';
import { ConfigError, type RegistryConfig } from '@regop/registry';

const TLS_VERSIONS: Record<string, SecureVersion> = {
  'tls1.0': 'TLSv1',
  'tls1.1': 'TLSv1.1',
  'tls1.2': 'TLSv1.2',
  'tls1.3': 'TLSv1.3',
};

/** Go's cipher suite names (what distribution's http.tls.ciphersuites takes) and OpenSSL's for them. */
const CIPHER_SUITES: Record<string, string> = {
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  // TLS 1.3's suites have one name everywhere.
  TLS_AES_128_GCM_SHA256: 'TLS_AES_128_GCM_SHA256',
  TLS_AES_256_GCM_SHA384: 'TLS_AES_256_GCM_SHA384',
  TLS_CHACHA20_POLY1305_SHA256: 'TLS_CHACHA20_POLY1305_SHA256',
};

/** http.tls.ciphersuites as an OpenSSL cipher list; an unknown name is refused, naming it. */
function opensslCiphers(suites: string[]): string {
  const unknown = suites.filter((s) => !CIPHER_SUITES[s]);
  if (unknown.length)
    throw new ConfigError(
      `http.tls.ciphersuites: unknown cipher suite ${unknown.join(', ')} (use Go's names)`,
    );
  return suites.map((s) => CIPHER_SUITES[s]).join(':');
}

/** http.tls as Node's HTTPS options (null without TLS), every file read and checked now, naming its key. */
export function httpsOptions(config: RegistryConfig): HttpsServerOptions | null {
  const tls = config.http?.tls;
  if (!tls?.certificate || !tls.key) return null;
  const read = (path: string, key: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigError(`${key}: cannot read ${path}: ${(err as Error).message}`);
    }
  };
  const clientCas = tls.clientcas?.map((p, i) => read(p, `http.tls.clientcas[${i}]`));
  const cert = read(tls.certificate, 'http.tls.certificate');
  const key = read(tls.key, 'http.tls.key');
  // Checked here so a bad pair is named, not an OpenSSL trace at listen time.
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw new ConfigError(`http.tls.certificate: ${tls.certificate} is not a PEM certificate`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new ConfigError(`http.tls.key: ${tls.key} is not a PEM private key`);
  }
  if (!x509.checkPrivateKey(privateKey))
    throw new ConfigError(`http.tls.key: ${tls.key} does not match the certificate in http.tls.certificate`);
  return {
    cert,
    key,
    minVersion: TLS_VERSIONS[tls.minimumtls ?? 'tls1.2'],
    ...(tls.ciphersuites?.length && { ciphers: opensslCiphers(tls.ciphersuites) }),
    ...(clientCas?.length ? { ca: clientCas, requestCert: true, rejectUnauthorized: true } : {}),
  };
}
