import { createHash, type KeyObject, X509Certificate } from 'node:crypto';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(bytes: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/**
 * The key id docker/libtrust gives a public key, which distribution 2.8 matches a token's `kid` against:
 * base32 of the first 240 bits of SHA-256 over the DER SubjectPublicKeyInfo, in colon-separated groups of four.
 */
export function libtrustKeyId(key: KeyObject): string {
  const der = key.export({ type: 'spki', format: 'der' });
  const encoded = base32(createHash('sha256').update(der).digest().subarray(0, 30));
  return encoded.match(/.{4}/g)?.join(':') ?? encoded;
}

/** Certificates from a PEM bundle. */
export function parseBundle(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

const valid = (cert: X509Certificate, now: Date) =>
  new Date(cert.validFrom) <= now && now <= new Date(cert.validTo);

/**
 * Whether `issuer` signed `cert`. Checking a signature with the wrong RSA key can make OpenSSL throw
 * (an ASN.1 padding error) rather than answer false: that is a no as well.
 */
function signedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/**
 * Verifies an x5c chain (base64 DER, leaf first) up to one of the trusted roots and returns the leaf's key;
 * a reason string when it does not chain, or a certificate is out of its validity period.
 */
export function verifyChain(x5c: unknown, roots: X509Certificate[], now = new Date()): KeyObject | string {
  if (
    !Array.isArray(x5c) ||
    x5c.length === 0 ||
    x5c.length > 10 ||
    !x5c.every((c) => typeof c === 'string')
  ) {
    return 'x5c must be a non-empty array of certificates';
  }
  let chain: X509Certificate[];
  try {
    chain = x5c.map((c) => new X509Certificate(Buffer.from(c as string, 'base64')));
  } catch {
    return 'x5c holds a certificate that does not parse';
  }
  for (const cert of chain) if (!valid(cert, now)) return `certificate ${cert.subject} is not valid now`;
  for (let i = 0; i + 1 < chain.length; i++) {
    const [cert, issuer] = [chain[i] as X509Certificate, chain[i + 1] as X509Certificate];
    if (!signedBy(cert, issuer)) return 'x5c chain is broken';
  }
  const top = chain[chain.length - 1] as X509Certificate;
  const trusted = roots.some(
    (root) => valid(root, now) && (top.fingerprint256 === root.fingerprint256 || signedBy(top, root)),
  );
  return trusted
    ? (chain[0] as X509Certificate).publicKey
    : 'x5c does not chain to a trusted root certificate';
}
