import { createPrivateKey, type KeyObject } from 'node:crypto';
import { type JWTPayload, SignJWT } from 'jose';

/** Asymmetric algorithms only: `none` and HMAC (where a public key could be abused as the secret) are refused. */
export const SUPPORTED_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
];

/** The algorithm a private key signs with: RS256 for RSA (what every Docker client verifies), ES* by curve. */
function algorithmOf(key: KeyObject): string {
  if (key.asymmetricKeyType !== 'ec') return 'RS256';
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return curve === 'secp384r1' ? 'ES384' : curve === 'secp521r1' ? 'ES512' : 'ES256';
}

/** Signs a JWT with a PEM private key, adding `header` (kid, x5c) to the protected header. */
export function signJwt(
  payload: object,
  privateKeyPem: string,
  header: Record<string, unknown> = {},
): Promise<string> {
  const key = createPrivateKey(privateKeyPem);
  return new SignJWT(payload as JWTPayload)
    .setProtectedHeader({ typ: 'JWT', alg: algorithmOf(key), ...header })
    .sign(key);
}
