/**
 * distribution's config.yml (version 0.1), as zod schemas. Known keys are checked and typos are refused by
 * name; sections this registry accepts but does not act on are listed in IGNORED_SECTIONS.
 */
import * as z from 'zod';
import { parseDuration } from './duration.js';

const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `not a duration (like 10s, 5m, 168h): ${JSON.stringify(value)}`,
    });
    return z.NEVER;
  }
  return ms;
});

const bool = z.boolean();
const enabledFlag = z.strictObject({ enabled: bool.optional() });

const pattern = z.string().refine(
  (source) => {
    try {
      new RegExp(source);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not a regular expression' },
);

/** A retention rule (gc/retention.ts): this registry's own, as is the garbagecollect section holding it. */
export const retentionRuleSchema = z.strictObject({
  repositories: z.string().min(1),
  keeplast: z.number().int().nonnegative().optional(),
  keeptags: z.array(pattern).optional(),
  untaggedolderthan: duration.optional(),
  tagsolderthan: duration.optional(),
});

/**
 * A storage driver's section: a free-form map in distribution, each driver validating its own (its descriptor's
 * optionsSchema, in @regop/drivers' table). Any key of the storage section that is not one of its settings below
 * names a driver.
 */
const driverParameters = z
  .record(z.string(), z.unknown())
  .nullable()
  .transform((v) => v ?? {});

const storageSettings = {
  delete: enabledFlag.optional(),
  maintenance: z
    .strictObject({
      uploadpurging: z
        .strictObject({
          enabled: bool.optional(),
          age: duration.optional(),
          interval: duration.optional(),
          dryrun: bool.optional(),
        })
        .optional(),
      readonly: enabledFlag.optional(),
      // Scheduled collection (and retention) in `registry serve`, shaped like uploadpurging.
      garbagecollect: z
        .strictObject({
          enabled: bool.optional(),
          interval: duration.optional(),
          dryrun: bool.optional(),
          grace: duration.optional(),
          deleteuntagged: bool.optional(),
          retention: z.array(retentionRuleSchema).optional(),
        })
        .optional(),
    })
    .optional(),
  cache: z
    .strictObject({
      blobdescriptor: z.enum(['inmemory', 'redis']).optional(),
      blobdescriptorsize: z.number().int().positive().optional(),
    })
    .optional(),
  redirect: z.strictObject({ disable: bool.optional() }).optional(),
};

const STORAGE_SETTINGS: readonly string[] = Object.keys(storageSettings);

/** The keys of a storage section that name a driver: every one that is not a setting. */
export const driverKeys = (storage: object): string[] =>
  Object.keys(storage).filter((k) => !STORAGE_SETTINGS.includes(k));

const storage = z
  .object(storageSettings)
  .catchall(driverParameters)
  .superRefine((s, ctx) => {
    const drivers = driverKeys(s);
    if (drivers.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message:
          drivers.length === 0
            ? 'one storage driver must be configured (such as filesystem: { rootdirectory: /var/lib/registry })'
            : `only one storage driver may be configured, found ${drivers.join(', ')}`,
      });
    }
  });

/** The driver the storage section names (exactly one; the schema checked), and its parameters. */
export function storageDriverSection(storage: StorageConfig): {
  name: string;
  parameters: Record<string, unknown>;
} {
  const name = driverKeys(storage)[0] as string;
  return { name, parameters: (storage as Record<string, Record<string, unknown>>)[name] ?? {} };
}

const tls = z.strictObject({
  certificate: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  clientcas: z.array(z.string()).optional(),
  minimumtls: z.enum(['tls1.0', 'tls1.1', 'tls1.2', 'tls1.3']).optional(),
  ciphersuites: z.array(z.string()).optional(),
  letsencrypt: z.record(z.string(), z.unknown()).optional(),
});

const http = z.strictObject({
  addr: z.string().min(1).optional(),
  net: z.enum(['tcp', 'unix']).optional(),
  prefix: z.string().optional(),
  host: z.url({ message: 'must be a URL such as https://registry.example.com' }).optional(),
  secret: z.string().optional(),
  relativeurls: bool.optional(),
  draintimeout: duration.optional(),
  tls: tls.optional(),
  debug: z
    .strictObject({
      addr: z.string().min(1).optional(),
      prometheus: z
        .strictObject({ enabled: bool.optional(), path: z.string().startsWith('/').optional() })
        .optional(),
    })
    .optional(),
  headers: z.record(z.string(), z.array(z.string())).optional(),
  http2: z.strictObject({ disabled: bool.optional() }).optional(),
  h2c: z.strictObject({ enabled: bool.optional() }).optional(),
});

/**
 * Failed logins allowed per client address and per user (this registry's own: distribution has no limit).
 * A token bucket: `burst` at once, `perminute` more each minute.
 */
export const failureLimitSchema = z.strictObject({
  burst: z.number().int().positive().optional(),
  perminute: z.number().positive().optional(),
  disabled: bool.optional(),
});

const ldapUrl = z.string().refine((u) => /^ldaps?:\/\/[^/\s]+\/?$/.test(u), {
  message: 'must be ldap://HOST[:PORT] or ldaps://HOST[:PORT]',
});

/** A time the LDAP client and the cache take in whole milliseconds (0 would mean "never" to both). */
const atLeastAMillisecond = duration.refine((ms) => Number.isInteger(ms) && ms >= 1, {
  message: 'must be a duration of at least 1ms, such as 5s',
});

/** An LDAP directory as a source of users: the registry's auth.ldap, and the token server's users. */
const ldapFields = {
  url: z.union([ldapUrl, z.array(ldapUrl).min(1)]).transform((u) => [u].flat()),
  starttls: bool.optional(),
  cacert: z.string().min(1).optional(),
  insecureskipverify: bool.optional(),
  binddn: z.string().min(1),
  bindpassword: z.string().min(1).optional(),
  bindpasswordfile: z.string().min(1).optional(),
  userbase: z.string().min(1),
  userfilter: z
    .string()
    .refine((f) => f.startsWith('(') && f.endsWith(')') && f.includes('{username}'), {
      message: 'must be a filter in parentheses naming {username}, such as (uid={username})',
    })
    .optional(),
  groupbase: z.string().min(1).optional(),
  groupfilter: z
    .string()
    .refine((f) => f.startsWith('(') && f.endsWith(')'), {
      message: 'must be a filter in parentheses, such as (member={dn})',
    })
    .optional(),
  groupattribute: z.string().min(1).optional(),
  timeout: atLeastAMillisecond.optional(),
  cache: z.strictObject({ ttl: atLeastAMillisecond.optional() }).optional(),
  ratelimit: failureLimitSchema.optional(),
};
const oneBindPassword = (l: { bindpassword?: string | undefined; bindpasswordfile?: string | undefined }) =>
  (l.bindpassword === undefined) !== (l.bindpasswordfile === undefined);
const ONE_BIND_PASSWORD = { message: 'give bindpassword or bindpasswordfile (one of them)' };
/** StartTLS upgrades a plain connection: on ldaps:// (already TLS) every sign-in would fail. */
const noStarttlsOnLdaps = (l: { starttls?: boolean | undefined; url: string[] }) =>
  !l.starttls || l.url.every((u) => u.startsWith('ldap:'));
const NO_STARTTLS_ON_LDAPS = {
  message: 'starttls is for ldap:// URLs; ldaps:// is TLS already',
  path: ['starttls'],
};

/** The token server's users from a directory (its realm is the server's). */
export const ldapUsersSchema = z
  .strictObject(ldapFields)
  .refine(oneBindPassword, ONE_BIND_PASSWORD)
  .refine(noStarttlsOnLdaps, NO_STARTTLS_ON_LDAPS);
export type LdapUsersConfig = z.output<typeof ldapUsersSchema>;

/** This registry's own: basic auth against an LDAP directory (distribution has no such section). */
const ldap = z
  .strictObject({ realm: z.string().min(1), ...ldapFields })
  .refine(oneBindPassword, ONE_BIND_PASSWORD)
  .refine(noStarttlsOnLdaps, NO_STARTTLS_ON_LDAPS);

const auth = z
  .strictObject({
    htpasswd: z
      .strictObject({
        realm: z.string().min(1),
        path: z.string().min(1),
        ratelimit: failureLimitSchema.optional(),
      })
      .optional(),
    token: z
      .strictObject({
        realm: z.string().min(1),
        service: z.string().min(1),
        issuer: z.string().min(1),
        rootcertbundle: z.string().min(1).optional(),
        jwks: z.string().min(1).optional(),
        autoredirect: bool.optional(),
        autoredirectpath: z.string().startsWith('/').optional(),
        signingalgorithms: z.array(z.string()).optional(),
      })
      .optional(),
    ldap: ldap.optional(),
    silly: z.record(z.string(), z.unknown()).optional(),
  })
  .nullable();

const log = z.strictObject({
  level: z.enum(['error', 'warn', 'info', 'debug', 'panic', 'fatal', 'trace']).optional(),
  formatter: z.enum(['text', 'json', 'logstash']).optional(),
  fields: z.record(z.string(), z.unknown()).optional(),
  hooks: z.array(z.unknown()).optional(),
  accesslog: z.strictObject({ disabled: bool.optional() }).optional(),
  reportcaller: bool.optional(),
});

const health = z.strictObject({
  storagedriver: z
    .strictObject({
      enabled: bool.optional(),
      interval: duration.optional(),
      threshold: z.number().int().positive().optional(),
    })
    .optional(),
  file: z.array(z.strictObject({ file: z.string().min(1), interval: duration.optional() })).optional(),
  http: z
    .array(
      z.strictObject({
        uri: z.url(),
        headers: z.record(z.string(), z.array(z.string())).optional(),
        statuscode: z.number().int().optional(),
        timeout: duration.optional(),
        interval: duration.optional(),
        threshold: z.number().int().nonnegative().optional(),
      }),
    )
    .optional(),
  tcp: z
    .array(
      z.strictObject({
        addr: z.string().min(1),
        timeout: duration.optional(),
        interval: duration.optional(),
        threshold: z.number().int().nonnegative().optional(),
      }),
    )
    .optional(),
});

const proxy = z.strictObject({
  remoteurl: z.url(),
  username: z.string().optional(),
  password: z.string().optional(),
  ttl: duration.optional(),
});

/**
 * distribution v3's manifest validation: which index children must be in the repository (`indexes.platforms`:
 * all, none, or those of `platformlist`), plus this registry's `layers: none` for image layers (sparse images).
 */
const validation = z.strictObject({
  enabled: bool.optional(),
  disabled: bool.optional(),
  manifests: z
    .strictObject({
      urls: z
        .strictObject({ allow: z.array(z.string()).optional(), deny: z.array(z.string()).optional() })
        .optional(),
      indexes: z
        .strictObject({
          platforms: z
            .string()
            .transform((v) => v.toLowerCase())
            .pipe(z.enum(['all', 'none', 'list']))
            .optional(),
          platformlist: z
            .array(z.strictObject({ architecture: z.string().min(1), os: z.string().min(1) }))
            .optional(),
        })
        .optional(),
      layers: z.enum(['all', 'none']).optional(),
    })
    .optional(),
});

/** Where registry events are sent (distribution's notifications section). */
const notifications = z.strictObject({
  events: z.strictObject({ includereferences: bool.optional() }).optional(),
  endpoints: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        disabled: bool.optional(),
        url: z.url(),
        headers: z.record(z.string(), z.array(z.string())).optional(),
        timeout: duration.optional(),
        threshold: z.number().int().nonnegative().optional(),
        backoff: duration.optional(),
        ignoredmediatypes: z.array(z.string()).optional(),
        ignore: z
          .strictObject({
            mediatypes: z.array(z.string()).optional(),
            actions: z.array(z.string()).optional(),
          })
          .optional(),
      }),
    )
    .optional(),
});

/** This registry's own section (distribution has none): the read-only web UI that `registry serve` offers. */
const ui = z.strictObject({
  enabled: bool.optional(),
  path: z
    .string()
    .regex(/^(\/[A-Za-z0-9._~-]+)+$/, {
      message:
        'must be a path such as /ui: segments of letters, digits, ".", "_", "~" or "-", no trailing slash',
    })
    .refine((p) => !/^\/(v2|debug)(\/|$)/.test(p), { message: 'must not be under /v2 or /debug' })
    .optional(),
  title: z.string().min(1).max(200).optional(),
});

/** This registry's own section: how large a referrers answer grows before the rest goes to a next page. */
const referrers = z.strictObject({
  pagesize: z.number().int().min(1024, { message: 'must be a number of bytes, at least 1024' }).optional(),
});

/** Sections of distribution's config that this registry accepts and, for now, does not act on. */
export const IGNORED_SECTIONS = ['redis', 'reporting', 'middleware', 'compatibility'] as const;

export const configSchema = z.strictObject({
  version: z
    .union([z.literal('0.1'), z.literal(0.1)], {
      error: 'must be 0.1 (the config format version distribution reads; add `version: 0.1`)',
    })
    .transform(() => '0.1' as const),
  log: log.optional(),
  loglevel: z.enum(['error', 'warn', 'info', 'debug']).optional(),
  storage,
  http: http.optional(),
  auth: auth.optional(),
  health: health.optional(),
  proxy: proxy.optional(),
  notifications: notifications.optional(),
  redis: z.unknown().optional(),
  reporting: z.unknown().optional(),
  middleware: z.unknown().optional(),
  validation: validation.optional(),
  compatibility: z.unknown().optional(),
  ui: ui.optional(),
  referrers: referrers.optional(),
});

export type RegistryConfig = z.output<typeof configSchema>;
export type StorageConfig = RegistryConfig['storage'];
