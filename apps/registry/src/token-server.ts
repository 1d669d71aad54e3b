import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  Acl,
  createCertificateAuthority,
  HtpasswdAccessController,
  issueCertificate,
  tokenIssuer,
  type UserSource,
} from '@regop/auth';
import { ConfigError, failureLimitSchema, ldapUsersSchema, parseDuration } from '@regop/registry';
import Fastify from 'fastify';
import { parse, stringify } from 'yaml';
import * as z from 'zod';
import { failureLimit, ldapUsers, logLimited, readConfigured } from './auth.js';
import { parseCommandLine, UsageError } from './cli.js';
import { parseListenAddress } from './listen.js';
import { NO_ROUTE_SCHEMAS } from './schemaless.js';
import { TOKEN_USAGE } from './usage.js';

const configSchema = z.strictObject({
  addr: z.string().min(1),
  issuer: z.string().min(1),
  service: z.string().min(1),
  realm: z.string().min(1).default('token issuer'),
  expiration: z.string().default('5m'),
  certificate: z.string().min(1),
  key: z.string().min(1),
  htpasswd: z.string().min(1).optional(),
  ldap: ldapUsersSchema.optional(),
  ratelimit: failureLimitSchema.optional(),
  acl: z.string().min(1),
});

async function serveTokens(configPath: string): Promise<number> {
  const result = configSchema.safeParse(parse(await readConfigured(configPath, 'CONFIG')));
  if (!result.success) {
    throw new ConfigError(
      'invalid token-server configuration',
      result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
    );
  }
  const config = result.data;
  const expiresMs = parseDuration(config.expiration);
  if (expiresMs === undefined || expiresMs < 1000)
    throw new ConfigError(`expiration: not a duration of a second or more: ${config.expiration}`);
  const app = Fastify({ logger: true, schemaController: NO_ROUTE_SCHEMAS });
  if (config.htpasswd && config.ldap) throw new ConfigError('htpasswd, ldap: give one source of users');
  let users: UserSource | undefined;
  if (config.ldap) users = await ldapUsers(config.ldap, config.realm, (m) => app.log.warn(m));
  if (config.htpasswd) {
    const file = new HtpasswdAccessController({
      realm: config.realm,
      path: config.htpasswd,
      onRefused: (m) => app.log.warn(m),
      rateLimit: failureLimit(config.ratelimit),
      onLimited: logLimited((m) => app.log.warn(m)),
    });
    await file.load().catch((err: Error) => {
      throw new ConfigError(`htpasswd: cannot read ${config.htpasswd}: ${err.message}`);
    });
    users = file;
  }
  await app.register(tokenIssuer, {
    issuer: config.issuer,
    service: config.service,
    realm: config.realm,
    certificateChainPem: await readConfigured(config.certificate, 'certificate'),
    keyPem: await readConfigured(config.key, 'key'),
    acl: Acl.parse(await readConfigured(config.acl, 'acl'), config.acl),
    expiresInSeconds: Math.floor(expiresMs / 1000),
    ...(users && { users }),
  });
  const { host, port } = parseListenAddress(config.addr, 'addr');
  await app.listen({ host, port });
  const close = () => app.close().then(() => process.exit(0));
  process.on('SIGTERM', close);
  process.on('SIGINT', close);
  return -1;
}

async function init(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine({
    args,
    options: {
      issuer: { type: 'string', default: 'regop-token-issuer' },
      service: { type: 'string', default: 'registry' },
      addr: { type: 'string', default: '127.0.0.1:5001' },
    },
    usage: TOKEN_USAGE,
  });
  const dir = positionals[0];
  if (!dir) throw new UsageError('token-server init needs a DIR', TOKEN_USAGE);
  const root = resolve(dir);
  await mkdir(root, { recursive: true });
  const ca = createCertificateAuthority({ commonName: `${values.issuer} root`, days: 3650 });
  const signer = issueCertificate(ca, { commonName: `${values.issuer} signing`, days: 3650 });
  const write = async (name: string, content: string, mode = 0o644) => {
    await writeFile(join(root, name), content, { mode });
    await chmod(join(root, name), mode);
  };
  await write('root.crt', ca.certPem);
  await write('signing.crt', signer.certPem);
  await write('signing.key', signer.keyPem, 0o600);
  await write(
    'acl.yml',
    '# Who may do what. account: a user of the htpasswd file, or "*" for any of them; anonymous: true for\n' +
      '# clients without credentials. name is a glob: * stays within a path segment, ** crosses them.\n' +
      stringify([
        { account: '*', name: '**', actions: ['pull'] },
        { account: 'admin', name: '**', actions: ['pull', 'push', 'delete'] },
        { account: 'admin', type: 'registry', name: 'catalog', actions: ['*'] },
      ]),
  );
  await write(
    'token-server.yml',
    stringify({
      addr: values.addr,
      issuer: values.issuer,
      service: values.service,
      expiration: '5m',
      certificate: join(root, 'signing.crt'),
      key: join(root, 'signing.key'),
      htpasswd: join(root, 'htpasswd'),
      acl: join(root, 'acl.yml'),
    }),
  );
  process.stdout.write(
    `wrote ${root}/{root.crt,signing.crt,signing.key,acl.yml,token-server.yml}; add users with\n` +
      `  htpasswd -B -c ${join(root, 'htpasswd')} admin   (-c only for the first; acl.yml lets admin push)\n` +
      'and configure registries with\n' +
      stringify({
        auth: {
          token: {
            realm: `http://${values.addr}/token`,
            service: values.service,
            issuer: values.issuer,
            rootcertbundle: join(root, 'root.crt'),
          },
        },
      }),
  );
  return 0;
}

export function tokenServer(args: string[]): Promise<number> {
  if (args[0] === 'init') return init(args.slice(1));
  const { positionals } = parseCommandLine({ args, options: {}, usage: TOKEN_USAGE });
  if (!positionals[0]) throw new UsageError('token-server needs a CONFIG or init DIR', TOKEN_USAGE);
  return serveTokens(positionals[0]);
}
