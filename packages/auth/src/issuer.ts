import { randomBytes, X509Certificate } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { jwtVerify } from 'jose';
import * as z from 'zod';
import {
  type Access,
  AuthFailure,
  type AuthRequest,
  formatScope,
  type Grant,
  parseScope,
  quote,
} from './access.js';
import type { Acl } from './acl.js';

import { signJwt } from './jwt.js';
import { libtrustKeyId } from './keys.js';

/** Where the issuer's users come from: an htpasswd file or a directory. */
export interface UserSource {
  /** Checks Basic credentials; AuthFailure when they do not pass. */
  authorize(request: AuthRequest, access: Access[]): Promise<Grant>;
  /** The user's credentials as they stand now (a hash), undefined once the user is gone: refresh tokens carry it. */
  fingerprint(user: string): Promise<string | undefined>;
  /** The groups the user is in now (DNs and names), for ACL entries naming groups. */
  groups?(user: string): Promise<string[]>;
}

export interface TokenIssuerOptions {
  issuer: string;
  service: string;
  /** PEM: the signing certificate first, then any intermediates up to (not including) the root. */
  certificateChainPem: string;
  keyPem: string;
  /** Checks Basic credentials (htpasswd, a directory); without it only anonymous tokens are issued. */
  users?: UserSource;
  acl: Acl;
  expiresInSeconds: number;
  realm: string;
}

const MAX_SCOPES = 50;
/** The OAuth2 form's fields (urlencoded, or JSON): each a string when given. */
const oauthForm = z
  .object({
    grant_type: z.string(),
    service: z.string(),
    client_id: z.string(),
    scope: z.string(),
    username: z.string(),
    password: z.string(),
    refresh_token: z.string(),
    access_type: z.string(),
  })
  .partial();
/** How long a refresh token (a signed-in browser, a docker login's identity token) stays good: a day. */
const REFRESH_SECONDS = 24 * 60 * 60;

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

  const signingKey = leaf.publicKey;

  // A directory that cannot be reached while a token is made (its groups, a refresh token's user): 503 in the
  // endpoint's own shape, not fastify's.
  fastify.setErrorHandler((error, _request, reply) => {
    if (error instanceof AuthFailure)
      return reply.code(error.status).send({ errors: [{ code: error.code, message: error.message }] });
    return reply.send(error);
  });

  /** A token for `scopes`, each cut down to what the ACL allows `account` (undefined: anonymous). */
  const issue = async (account: string | undefined, scopes: string[]) => {
    // Group membership is read at token time (a directory's own cache bounds how stale it may be).
    const groups =
      account !== undefined && options.acl.namesGroups
        ? ((await options.users?.groups?.(account)) ?? [])
        : [];
    const access: Access[] = [];
    for (const scope of scopes) {
      const wanted = parseScope(scope);
      if (!wanted) continue;
      const actions = options.acl.allowed(account, wanted, groups);
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
    return { token, issuedAt: new Date(now * 1000).toISOString(), scope: access.map(formatScope).join(' ') };
  };

  const splitScopes = (scope: string | string[] | undefined) =>
    ([] as string[])
      .concat(scope ?? [])
      .flatMap((s) => s.split(' '))
      .filter(Boolean);

  const unknownService = (reply: FastifyReply, service: unknown) =>
    reply
      .code(400)
      .send({ errors: [{ code: 'UNSUPPORTED', message: `unknown service ${JSON.stringify(service)}` }] });
  const tooManyScopes = (reply: FastifyReply) =>
    reply.code(400).send({ errors: [{ code: 'UNSUPPORTED', message: 'too many scopes' }] });

  /** Basic credentials checked against the users; the failure as an answer when they do not pass. */
  const signIn = async (request: FastifyRequest, reply: FastifyReply, authorization: string) => {
    try {
      if (!options.users)
        throw new AuthFailure(
          'UNAUTHORIZED',
          'this issuer has no users',
          `Basic realm=${quote(options.realm)}`,
        );
      const grant = await options.users.authorize({ headers: { authorization }, address: request.ip }, []);
      return { account: grant.user };
    } catch (err) {
      if (!(err instanceof AuthFailure)) throw err;
      if (err.challenge) reply.header('www-authenticate', err.challenge);
      if (err.retryAfterSeconds) reply.header('retry-after', err.retryAfterSeconds);
      reply.code(err.status).send({ errors: [{ code: err.code, message: err.message }] });
      return undefined;
    }
  };

  fastify.get('/token', async (request, reply) => {
    const query = request.query as Record<string, string | string[] | undefined>;
    if (query.service !== options.service) return unknownService(reply, query.service);
    let account: string | undefined;
    if (request.headers.authorization) {
      const signedIn = await signIn(request, reply, request.headers.authorization);
      if (!signedIn) return reply;
      account = signedIn.account;
    }
    const scopes = splitScopes(query.scope);
    if (scopes.length > MAX_SCOPES) return tooManyScopes(reply);
    const { token, issuedAt } = await issue(account, scopes);
    return reply.send({
      token,
      access_token: token,
      expires_in: options.expiresInSeconds,
      issued_at: issuedAt,
    });
  });

  /**
   * The OAuth2 form of the endpoint (distribution's token spec, oauth.md): `grant_type=password` signs in and,
   * with `access_type=offline`, returns a refresh token; `grant_type=refresh_token` trades one for an access
   * token without the password again (docker's identity tokens; the registry's web UI keeps one in a cookie).
   * A refresh token is a JWT signed by this issuer with an audience of its own, so no registry takes it as access.
   */
  fastify.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 64 * 1024 },
    (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );
  const refreshAudience = `${options.service} refresh`;
  const oauthError = (reply: FastifyReply, status: number, error: string, description: string) =>
    reply.code(status).send({ error, error_description: description });

  fastify.post('/token', async (request, reply) => {
    const parsed = oauthForm.safeParse(request.body ?? {});
    if (!parsed.success)
      return oauthError(
        reply,
        400,
        'invalid_request',
        `${parsed.error.issues[0]?.path.join('.')}: must be a string`,
      );
    const form = parsed.data;
    if (form.service !== options.service) return unknownService(reply, form.service);
    if (!form.client_id) return oauthError(reply, 400, 'invalid_request', 'client_id is required');
    const scopes = splitScopes(form.scope);
    if (scopes.length > MAX_SCOPES) return tooManyScopes(reply);
    let account: string;
    if (form.grant_type === 'password') {
      if (!form.username || !form.password)
        return oauthError(reply, 400, 'invalid_request', 'username and password are required');
      const basic = `Basic ${Buffer.from(`${form.username}:${form.password}`).toString('base64')}`;
      const signedIn = await signIn(request, reply, basic);
      if (!signedIn?.account) return reply;
      account = signedIn.account;
    } else if (form.grant_type === 'refresh_token') {
      const claims = await jwtVerify(form.refresh_token ?? '', signingKey, {
        issuer: options.issuer,
        audience: refreshAudience,
      }).then(
        (verified) => verified.payload as { sub?: string; pwf?: string },
        () => undefined,
      );
      // The user's entry must be the one the token was issued for: a new password or a removed user ends it.
      const current = claims?.sub ? await options.users?.fingerprint(claims.sub) : undefined;
      if (!claims?.sub || current === undefined || current !== claims.pwf)
        return oauthError(
          reply,
          401,
          'invalid_grant',
          'the refresh token is not valid (expired, or its user or password changed)',
        );
      account = claims.sub;
    } else {
      return oauthError(reply, 400, 'unsupported_grant_type', 'grant_type must be password or refresh_token');
    }
    const { token, issuedAt, scope } = await issue(account, scopes);
    const now = Math.floor(Date.now() / 1000);
    const refresh =
      form.grant_type === 'password' && form.access_type === 'offline'
        ? await signJwt(
            {
              iss: options.issuer,
              sub: account,
              aud: refreshAudience,
              pwf: await options.users?.fingerprint(account),
              exp: now + REFRESH_SECONDS,
              iat: now,
              jti: randomBytes(16).toString('hex'),
            },
            options.keyPem,
            header,
          )
        : undefined;
    return reply.send({
      access_token: token,
      scope,
      expires_in: options.expiresInSeconds,
      issued_at: issuedAt,
      ...(refresh && { refresh_token: refresh }),
    });
  });
}
