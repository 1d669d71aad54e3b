import { createPrivateKey, type KeyObject, sign, verify } from 'node:crypto';

/** Asymmetric algorithms only: `none` and HMAC (where a public key could be abused as the secret) are refused. */
const ALGORITHMS: Record<
  string,
  { hash: string; kty: 'rsa' | 'rsa-pss' | 'ec'; curve?: string; pss?: boolean }
> = {
  RS256: { hash: 'sha256', kty: 'rsa' },
  RS384: { hash: 'sha384', kty: 'rsa' },
  RS512: { hash: 'sha512', kty: 'rsa' },
  PS256: { hash: 'sha256', kty: 'rsa', pss: true },
  PS384: { hash: 'sha384', kty: 'rsa', pss: true },
  PS512: { hash: 'sha512', kty: 'rsa', pss: true },
  ES256: { hash: 'sha256', kty: 'ec', curve: 'prime256v1' },
  ES384: { hash: 'sha384', kty: 'ec', curve: 'secp384r1' },
  ES512: { hash: 'sha512', kty: 'ec', curve: 'secp521r1' },
};
export const SUPPORTED_ALGORITHMS = Object.keys(ALGORITHMS);

export interface Jws {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  signingInput: string;
  signature: Buffer;
}

const MAX_TOKEN = 64 * 1024;

/** Splits and decodes a compact JWS; a reason string when it is not one. */
export function decodeJws(token: string): Jws | string {
  if (token.length > MAX_TOKEN) return 'token is too large';
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => /^[A-Za-z0-9_-]*$/.test(p)))
    return 'token is not a compact JWS';
  const [h = '', p = '', s = ''] = parts;
  try {
    const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    if (typeof header !== 'object' || !header || typeof payload !== 'object' || !payload)
      return 'token parts must be JSON objects';
    return { header, payload, signingInput: `${h}.${p}`, signature: Buffer.from(s, 'base64url') };
  } catch {
    return 'token parts are not JSON';
  }
}

/** Checks the signature with `key`, which must be of the algorithm's key type (no algorithm confusion). */
export function verifySignature(
  jws: Jws,
  key: KeyObject,
  allowed = SUPPORTED_ALGORITHMS,
): string | undefined {
  const alg = jws.header.alg;
  const spec = typeof alg === 'string' && allowed.includes(alg) ? ALGORITHMS[alg] : undefined;
  if (!spec) return `signing algorithm ${JSON.stringify(alg)} is not accepted`;
  if (key.asymmetricKeyType !== spec.kty && !(spec.kty === 'rsa' && key.asymmetricKeyType === 'rsa-pss')) {
    return `a ${key.asymmetricKeyType} key cannot verify ${alg}`;
  }
  if (spec.curve && key.asymmetricKeyDetails?.namedCurve !== spec.curve)
    return `${alg} needs curve ${spec.curve}`;
  const ok = verify(
    spec.hash,
    Buffer.from(jws.signingInput),
    { key, dsaEncoding: 'ieee-p1363', ...(spec.pss && { padding: 6, saltLength: -1 }) },
    jws.signature,
  );
  return ok ? undefined : 'token signature does not verify';
}

/** Signs a JWT (RS256 for RSA keys, ES256/384/512 for EC keys) with the given header fields. */
export function signJwt(
  payload: object,
  privateKeyPem: string,
  header: Record<string, unknown> = {},
): string {
  const key = createPrivateKey(privateKeyPem);
  const curve = key.asymmetricKeyDetails?.namedCurve;
  const alg =
    key.asymmetricKeyType === 'ec'
      ? curve === 'secp384r1'
        ? 'ES384'
        : curve === 'secp521r1'
          ? 'ES512'
          : 'ES256'
      : 'RS256';
  const spec = ALGORITHMS[alg] as { hash: string };
  const encode = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${encode({ typ: 'JWT', alg, ...header })}.${encode(payload)}`;
  const signature = sign(spec.hash, Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}
