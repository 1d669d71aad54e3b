import { randomBytes } from 'node:crypto';
import forge from 'node-forge';

export interface KeyPair {
  certPem: string;
  keyPem: string;
}

export interface CertificateOptions {
  commonName: string;
  /** DNS names and IP addresses for a server certificate. */
  altNames?: string[];
  days?: number;
  /** Start of validity (default: a minute ago). */
  notBefore?: Date;
}

const IP = /^(\d{1,3}\.){3}\d{1,3}$|:/;

function newCertificate(publicKey: forge.pki.PublicKey, options: CertificateOptions): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // A positive serial, random so reissued certificates differ. Its first byte is 1-127: a high bit would make it
  // negative, and a zero first byte is padding DER forbids (OpenSSL then refuses the certificate).
  const serial = randomBytes(16);
  serial[0] = (serial[0] as number) & 0x7f || 1;
  cert.serialNumber = serial.toString('hex');
  const from = options.notBefore ?? new Date(Date.now() - 60_000);
  cert.validity.notBefore = from;
  cert.validity.notAfter = new Date(from.getTime() + (options.days ?? 365) * 86_400_000);
  return cert;
}

/** A self-signed certificate authority (RSA 2048). */
export function createCertificateAuthority(options: CertificateOptions): KeyPair {
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const cert = newCertificate(keys.publicKey, options);
  const subject = [{ name: 'commonName', value: options.commonName }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}

/** A certificate issued by `ca`: for TLS servers and clients (with altNames) and for signing tokens. */
export function issueCertificate(ca: KeyPair, options: CertificateOptions): KeyPair {
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const cert = newCertificate(keys.publicKey, options);
  cert.setSubject([{ name: 'commonName', value: options.commonName }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    ...(options.altNames?.length
      ? [
          {
            name: 'subjectAltName',
            altNames: options.altNames.map((n) => (IP.test(n) ? { type: 7, ip: n } : { type: 2, value: n })),
          },
        ]
      : []),
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}
