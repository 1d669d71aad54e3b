import { randomBytes, X509Certificate } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { type Access, AuthFailure, parseScope, quote } from './access.js';
import type { Acl } from './acl.js';
import type { HtpasswdAccessController } from './htpasswd.js';
import { signJwt } from './jwt.js';
import { libtrustKeyId } from './keys.js';

export interface TokenIssuerOptions {
  issuer: string;
  service: string;
  /** PEM: the signing certificate first, then any intermediates up to (not including) the root. */
  certificateChainPem: string;
  keyPem: string;
  /** Checks Basic credentials; without it only anonymous tokens are issued. */
  users?: HtpasswdAccessController;
  acl: Acl;
  expiresInSeconds: number;
  realm: string;
}

const MAX_SCOPES = 50;

/**
 * The Docker token endpoint (GET /token?service=&scope=...), as docker and skopeo call it: credentials are
 * checked against htpasswd, each requested scope is cut down to what the ACL allows, and the answer is a
 * JWT signed with the issuer's key, carrying its certificate chain (x5c) and libtrust key id.
 */
export async function tokenIssuer(fastify: FastifyInstance, options: TokenIssuerOptions): Promise<void> {
  const chain = (
    options.certificateChainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
  ).map((pem) => new X509Certificate(pem));
  const leaf = chain[0];
  if (!leaf) throw new Error('token issuer: no certificate given');
  const header = { x5c: chain.map((c) => c.raw.toString('base64')), kid: libtrustKeyId(leaf.publicKey) };

  fastify.get('/token', async (request, reply) => {
    const query = request.query as Record<string, string | string[] | undefined>;
    const service = query.service;
    if (service !== options.service) {
      return reply
        .code(400)
        .send({ errors: [{ code: 'UNSUPPORTED', message: `unknown service ${JSON.stringify(service)}` }] });
    }
    let account: string | undefined;
    if (request.headers.authorization) {
      try {
        if (!options.users)
          throw new AuthFailure(
            'UNAUTHORIZED',
            'this issuer has no users',
            `Basic realm=${quote(options.realm)}`,
          );
        account = (await options.users.authorize({ headers: request.headers, address: request.ip }, [])).user;
      } catch (err) {
        if (!(err instanceof AuthFailure)) throw err;
        if (err.challenge) reply.header('www-authenticate', err.challenge);
        if (err.retryAfterSeconds) reply.header('retry-after', err.retryAfterSeconds);
        return reply.code(err.status).send({ errors: [{ code: err.code, message: err.message }] });
      }
    }
    const scopes = ([] as string[])
      .concat(query.scope ?? [])
      .flatMap((s) => s.split(' '))
      .filter(Boolean);
    if (scopes.length > MAX_SCOPES)
      return reply.code(400).send({ errors: [{ code: 'UNSUPPORTED', message: 'too many scopes' }] });
    const access: Access[] = [];
    for (const scope of scopes) {
      const wanted = parseScope(scope);
      if (!wanted) continue;
      const actions = options.acl.allowed(account, wanted);
      if (actions.length > 0) access.push({ ...wanted, actions });
    }
    const now = Math.floor(Date.now() / 1000);
    const token = await signJwt(
      {
        iss: options.issuer,
        sub: account ?? '',
        aud: options.service,
        exp: now + options.expiresInSeconds,
        nbf: now - 1,
        iat: now,
        jti: randomBytes(16).toString('hex'),
        access,
      },
      options.keyPem,
      header,
    );
    return reply.send({
      token,
      access_token: token,
      expires_in: options.expiresInSeconds,
      issued_at: new Date(now * 1000).toISOString(),
    });
  });
}
