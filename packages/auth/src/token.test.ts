import { createHash, createHmac, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Access, AuthFailure } from './access.js';
import { Acl } from './acl.js';
import { HtpasswdAccessController } from './htpasswd.js';
import { tokenIssuer } from './issuer.js';
import { signJwt } from './jwt.js';
import { libtrustKeyId } from './keys.js';
import { createCertificateAuthority, issueCertificate, type KeyPair } from './pki.js';
import { TokenAccessController } from './token.js';

const SERVICE = 'registry.test';
const ISSUER = 'test-issuer';
const pull: Access[] = [{ type: 'repository', name: 'team/app', actions: ['pull'] }];
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const der = (pem: string) => new X509Certificate(pem).raw.toString('base64');

let dir: string;
let ca: KeyPair;
let signer: KeyPair;
let rogueCa: KeyPair;
let rogueSigner: KeyPair;
let controller: TokenAccessController;

function claims(over: Record<string, unknown> = {}) {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: ISSUER,
    sub: 'alice',
    aud: SERVICE,
    exp: now + 300,
    nbf: now - 1,
    iat: now,
    access: [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }],
    ...over,
  };
}
const mint = (over: Record<string, unknown> = {}, key = signer, x5c = [der(signer.certPem)]) =>
  signJwt(claims(over), key.keyPem, { x5c });

async function refusal(token: string | undefined, access = pull): Promise<AuthFailure> {
  const headers =
    token === undefined
      ? {}
      : {
          authorization: token.startsWith('Bearer') || token.startsWith('Basic') ? token : `Bearer ${token}`,
        };
  const err = await controller.authorize({ headers }, access).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(AuthFailure);
  return err as AuthFailure;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'regop-token-'));
  ca = createCertificateAuthority({ commonName: 'Test Root' });
  signer = issueCertificate(ca, { commonName: 'token signer' });
  rogueCa = createCertificateAuthority({ commonName: 'Test Root' });
  rogueSigner = issueCertificate(rogueCa, { commonName: 'token signer' });
  await writeFile(join(dir, 'bundle.pem'), ca.certPem);
  controller = new TokenAccessController({
    realm: 'https://auth.test/token',
    service: SERVICE,
    issuer: ISSUER,
    rootcertbundle: join(dir, 'bundle.pem'),
  });
  await controller.load();
});

describe('token access controller', () => {
  it('grants the access a valid token carries', async () => {
    expect(
      await controller.authorize({ headers: { authorization: `Bearer ${await mint()}` } }, pull),
    ).toEqual({
      user: 'alice',
    });
  });

  it('challenges a request without a token, naming realm, service and scope', async () => {
    const err = await refusal(undefined, [
      ...pull,
      { type: 'repository', name: 'other', actions: ['pull', 'push'] },
    ]);
    expect(err.status).toBe(401);
    expect(err.challenge).toBe(
      'Bearer realm="https://auth.test/token",service="registry.test",scope="repository:team/app:pull repository:other:pull,push"',
    );
  });

  it('answers insufficient_scope for access to another repository', async () => {
    const err = await refusal(await mint(), [
      { type: 'repository', name: 'someone/else', actions: ['pull'] },
    ]);
    expect(err.challenge).toMatch(/error="insufficient_scope"/);
    const push = await refusal(
      await mint({ access: [{ type: 'repository', name: 'team/app', actions: ['pull'] }] }),
      [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }],
    );
    expect(push.message).toMatch(/push/);
    const catalog = await refusal(await mint(), [{ type: 'registry', name: 'catalog', actions: ['*'] }]);
    expect(catalog.challenge).toMatch(/scope="registry:catalog:\*"/);
  });

  const now = Math.floor(Date.now() / 1000);
  const bad: [string, () => string | Promise<string>][] = [
    ['malformed Authorization', () => 'Bearer'],
    ['two tokens', async () => `Bearer ${await mint()} ${await mint()}`],
    ['Basic instead of Bearer', () => `Basic ${Buffer.from('a:b').toString('base64')}`],
    ['not a JWS', () => 'a.b'],
    ['garbage parts', () => 'e30.e30.!!!'],
    ['non-JSON parts', () => `${Buffer.from('nope').toString('base64url')}.e30.e30`],
    ['a huge token', () => `${'a'.repeat(70_000)}.e30.e30`],
    ['alg none', () => `${b64({ alg: 'none', typ: 'JWT', x5c: [der(signer.certPem)] })}.${b64(claims())}.`],
    [
      'HMAC with the public key as secret',
      () => {
        const input = `${b64({ alg: 'HS256', typ: 'JWT', kid: libtrustKeyId(new X509Certificate(ca.certPem).publicKey) })}.${b64(claims())}`;
        return `${input}.${createHmac('sha256', ca.certPem).update(input).digest('base64url')}`;
      },
    ],
    ['expired', () => mint({ exp: now - 3600 })],
    ['not yet valid', () => mint({ nbf: now + 3600 })],
    ['no expiry', () => mint({ exp: undefined })],
    ['wrong audience', () => mint({ aud: 'other-service' })],
    ['wrong issuer', () => mint({ iss: 'mallory' })],
    [
      'signed by an untrusted key under a trusted chain',
      () => signJwt(claims(), rogueSigner.keyPem, { x5c: [der(signer.certPem)] }),
    ],
    [
      'x5c chaining to an untrusted root',
      () => mint({}, rogueSigner, [der(rogueSigner.certPem), der(rogueCa.certPem)]),
    ],
    ['a kid nobody trusts', () => signJwt(claims(), rogueSigner.keyPem, { kid: 'ABCD:EFGH' })],
    ['no key named', () => signJwt(claims(), signer.keyPem)],
    [
      'a tampered payload',
      async () => {
        const [h, , s] = (await mint()).split('.');
        return `${h}.${b64(claims({ access: [{ type: 'repository', name: '*', actions: ['*'] }] }))}.${s}`;
      },
    ],
  ];
  it.each(bad)('refuses %s with 401 and invalid_token', async (_what, token) => {
    const err = await refusal(await token());
    expect(err.status).toBe(401);
    expect(err.challenge).toMatch(/^Bearer realm=/);
    expect(err.challenge).toMatch(/error="invalid_token"/);
  });

  it('says what was wrong with a refused token', async () => {
    const why = async (token: string) => (await refusal(token)).message;
    expect(await why(await mint({ exp: now - 3600 }))).toBe('token has expired');
    // exp and nbf are allowed a minute of clock skew, as distribution allows.
    expect(await why(await mint({ exp: now - 30, access: [] }))).toMatch(/does not grant/);
    expect(await why(await mint({ nbf: now + 3600 }))).toBe('token is not valid yet');
    expect(await why(await mint({ exp: undefined }))).toBe('token has no expiry');
    expect(await why(await mint({ aud: 'other-service' }))).toBe(
      'token audience does not include this service',
    );
    expect(await why(await mint({ iss: 'mallory' }))).toBe('token issuer is not trusted');
    const [, hmac] = bad.find(([w]) => w.startsWith('HMAC')) as [string, () => string];
    expect(await why(hmac())).toBe('token signing algorithm is not accepted');
    expect(await why(await signJwt(claims(), rogueSigner.keyPem, { x5c: [der(signer.certPem)] }))).toBe(
      'token signature does not verify',
    );
    expect(await why(await signJwt(claims(), signer.keyPem))).toBe('token names no signing key (x5c or kid)');
    expect(await why(await mint({}, rogueSigner, [der(rogueSigner.certPem), der(rogueCa.certPem)]))).toBe(
      'x5c does not chain to a trusted root certificate',
    );
  });

  it('answers 401, never an exception, for a same-named root whose signature check makes OpenSSL throw', async () => {
    // With the wrong RSA key, verifying a certificate sometimes throws (ASN.1 padding) instead of failing:
    // fresh keys each round make that case come up.
    for (let i = 0; i < 8; i++) {
      const impostor = createCertificateAuthority({ commonName: 'Test Root' });
      const leaf = issueCertificate(impostor, { commonName: 'token signer' });
      const err = await refusal(await mint({}, leaf, [der(leaf.certPem), der(impostor.certPem)]));
      expect(err.challenge).toMatch(/error="invalid_token"/);
    }
  }, 60_000);

  it('finds keys by libtrust key id or JWK thumbprint in the bundle, and in a JWKS file', async () => {
    const selfSigned = createCertificateAuthority({ commonName: 'self-signed signer' });
    await writeFile(join(dir, 'self.pem'), selfSigned.certPem);
    const byKid = new TokenAccessController({
      realm: 'r',
      service: SERVICE,
      issuer: ISSUER,
      rootcertbundle: join(dir, 'self.pem'),
    });
    await byKid.load();
    const key = new X509Certificate(selfSigned.certPem).publicKey;
    for (const kid of [
      libtrustKeyId(key),
      await calculateJwkThumbprint(key.export({ format: 'jwk' }) as JWK),
    ]) {
      expect(
        await byKid.authorize(
          { headers: { authorization: `Bearer ${await signJwt(claims(), selfSigned.keyPem, { kid })}` } },
          pull,
        ),
      ).toEqual({ user: 'alice' });
    }
    expect(libtrustKeyId(key)).toMatch(/^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);

    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeFile(
      join(dir, 'jwks.json'),
      JSON.stringify({ keys: [{ ...ec.publicKey.export({ format: 'jwk' }), kid: 'ec-1' }] }),
    );
    const byJwks = new TokenAccessController({
      realm: 'r',
      service: SERVICE,
      issuer: ISSUER,
      jwks: join(dir, 'jwks.json'),
    });
    await byJwks.load();
    const ecPem = ec.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(
      await byJwks.authorize(
        { headers: { authorization: `Bearer ${await signJwt(claims(), ecPem, { kid: 'ec-1' })}` } },
        pull,
      ),
    ).toEqual({ user: 'alice' });
  });
});

/** An issuer app for `users` (an htpasswd file of SHA1 entries, fast to check) under `acl`. */
async function issuerApp(file: string, users: Record<string, string>, acl: string) {
  const htpasswd = join(dir, file);
  const sha = (p: string) => `{SHA}${createHash('sha1').update(p).digest('base64')}`;
  await writeFile(
    htpasswd,
    Object.entries(users)
      .map(([user, password]) => `${user}:${sha(password)}\n`)
      .join(''),
  );
  const controller = new HtpasswdAccessController({ realm: 'issuer', path: htpasswd });
  await controller.load();
  const app = Fastify();
  await app.register(tokenIssuer, {
    issuer: ISSUER,
    service: SERVICE,
    certificateChainPem: signer.certPem,
    keyPem: signer.keyPem,
    users: controller,
    acl: Acl.parse(acl),
    expiresInSeconds: 300,
    realm: 'issuer',
  });
  return { app, htpasswd };
}

describe('token issuer', () => {
  it('issues tokens cut down to the ACL, which the controller accepts', async () => {
    const { app } = await issuerApp(
      'issuer.htpasswd',
      { alice: 'alice-pass', bob: 'bob-pass' },
      `
- account: alice
  name: "team/**"
  actions: [pull, push]
- account: "*"
  name: "team/*"
  actions: [pull]
- anonymous: true
  name: "public/*"
  actions: [pull]
`,
    );
    const ask = async (scope: string, user?: [string, string]) => {
      const headers = user
        ? { authorization: `Basic ${Buffer.from(user.join(':')).toString('base64')}` }
        : undefined;
      return app.inject({
        url: `/token?service=${SERVICE}&scope=${encodeURIComponent(scope)}`,
        ...(headers && { headers }),
      });
    };
    const use = async (res: { json(): { token: string } }, access: Access[]) =>
      controller
        .authorize({ headers: { authorization: `Bearer ${res.json().token}` } }, access)
        .catch((e: unknown) => e);
    const push: Access[] = [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }];

    const alice = await ask('repository:team/app:pull,push', ['alice', 'alice-pass']);
    expect(alice.statusCode).toBe(200);
    expect(alice.json()).toMatchObject({ expires_in: 300, access_token: alice.json().token });
    expect(await use(alice, push)).toEqual({ user: 'alice' });

    const bob = await ask('repository:team/app:pull,push', ['bob', 'bob-pass']);
    expect(await use(bob, pull)).toEqual({ user: 'bob' });
    expect(await use(bob, push)).toBeInstanceOf(AuthFailure);

    const anonymous = await ask('repository:public/base:pull repository:team/app:pull');
    expect(await use(anonymous, [{ type: 'repository', name: 'public/base', actions: ['pull'] }])).toEqual(
      {},
    );
    expect(await use(anonymous, pull)).toBeInstanceOf(AuthFailure);

    const wrong = await ask('repository:team/app:pull', ['alice', 'nope']);
    expect(wrong.statusCode).toBe(401);
    expect(wrong.headers['www-authenticate']).toBe('Basic realm="issuer"');
    expect((await app.inject(`/token?service=elsewhere&scope=x`)).statusCode).toBe(400);
  });

  it('signs in with the OAuth2 password grant and trades the refresh token for scoped access', async () => {
    const { app, htpasswd } = await issuerApp(
      'oauth.htpasswd',
      { carol: 'carol-pass' },
      '- account: carol\n  name: "team/*"\n  actions: [pull]\n',
    );
    const post = (form: Record<string, string>) =>
      app.inject({
        method: 'POST',
        url: '/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ service: SERVICE, client_id: 'test', ...form }).toString(),
      });

    const signedIn = await post({
      grant_type: 'password',
      username: 'carol',
      password: 'carol-pass',
      access_type: 'offline',
    });
    expect(signedIn.statusCode).toBe(200);
    const refresh = signedIn.json().refresh_token as string;
    expect(refresh).toMatch(/^ey/);
    // A refresh token is not access: the registry refuses it.
    expect(
      await controller.authorize({ headers: { authorization: `Bearer ${refresh}` } }, pull).catch((e) => e),
    ).toBeInstanceOf(AuthFailure);

    const traded = await post({
      grant_type: 'refresh_token',
      refresh_token: refresh,
      scope: 'repository:team/app:pull repository:other/app:pull',
    });
    expect(traded.statusCode).toBe(200);
    expect(traded.json()).toMatchObject({ scope: 'repository:team/app:pull', expires_in: 300 });
    expect(traded.json().refresh_token).toBeUndefined();
    expect(
      await controller.authorize(
        { headers: { authorization: `Bearer ${traded.json().access_token}` } },
        pull,
      ),
    ).toEqual({ user: 'carol' });

    expect((await post({ grant_type: 'password', username: 'carol', password: 'nope' })).statusCode).toBe(
      401,
    );
    expect((await post({ grant_type: 'refresh_token', refresh_token: `${refresh}x` })).json()).toMatchObject({
      error: 'invalid_grant',
    });
    expect((await post({ grant_type: 'client_credentials' })).json().error).toBe('unsupported_grant_type');
    // A new password for the user ends the sessions signed in with the old one.
    await new Promise((r) => setTimeout(r, 1100));
    await writeFile(htpasswd, `carol:{SHA}${createHash('sha1').update('new-pass').digest('base64')}\n`);
    expect((await post({ grant_type: 'refresh_token', refresh_token: refresh })).statusCode).toBe(401);
    // A form whose fields are not strings is refused, not a 500.
    const odd = await app.inject({
      method: 'POST',
      url: '/token',
      payload: { service: SERVICE, scope: [1, 2] },
    });
    expect(odd.statusCode).toBe(400);
  });
});
