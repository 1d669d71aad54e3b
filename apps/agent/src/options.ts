import { X509Certificate } from 'node:crypto';
import { parseDuration, retentionRulesSchema } from '@regop/registry/config-schema';
import { parse as parseYaml } from 'yaml';
import * as z from 'zod';

// config-get gives every option, unset strings as null.
const str = z
  .string()
  .nullish()
  .transform((v) => v ?? '');
const port = z.coerce
  .number()
  .int()
  .min(1, 'must be a port (1-65535)')
  .max(65535, 'must be a port (1-65535)');

/**
 * retention-rules: a YAML list of the registry's retention rules, checked as the registry will check them and
 * kept as written (the registry reads its durations as text).
 */
const retentionRules = str.transform((text, ctx) => {
  if (!text.trim()) return [] as unknown[];
  let rules: unknown;
  try {
    rules = parseYaml(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `is not YAML (${(err as Error).message.split('\n')[0]})` });
    return z.NEVER;
  }
  const checked = retentionRulesSchema.safeParse(rules);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    const where = issue?.path.length
      ? `rule ${Number(issue.path[0]) + 1}${issue.path.length > 1 ? ` ${issue.path.slice(1).join('.')}` : ''}: `
      : '';
    ctx.addIssue({
      code: 'custom',
      message: `must be a YAML list of retention rules (${where}${issue?.message})`,
    });
    return z.NEVER;
  }
  return rules as unknown[];
});

/** auth-ldap-url's URLs: several may be given, separated by spaces or commas. */
export const ldapUrls = (value: string) => value.split(/[\s,]+/).filter(Boolean);

const isCertificate = (pem: string) => {
  try {
    new X509Certificate(pem);
    return true;
  } catch {
    return false;
  }
};

/**
 * The charm's options as config-get reports them (names as in config.yaml). Juju sends every option, with
 * config.yaml's default where nobody set one, so the defaults live there alone.
 */
export const charmConfigSchema = z
  .object({
    'auth-basic-password': str,
    'auth-basic-user': str,
    'auth-ldap-url': str.refine(
      (v) => ldapUrls(v).every((u) => /^ldaps?:\/\/[^/\s]+\/?$/.test(u)),
      'must be ldap://HOST[:PORT] or ldaps://HOST[:PORT] (several separated by spaces)',
    ),
    'auth-ldap-starttls': z.boolean(),
    'auth-ldap-ca': str.refine(
      (v) => v === '' || isCertificate(Buffer.from(v, 'base64').toString('utf8')),
      "must be a base64-encoded PEM certificate (the CA of the directory's certificate)",
    ),
    'auth-ldap-bind-dn': str,
    'auth-ldap-bind-password': str,
    'auth-ldap-user-base': str,
    'auth-ldap-user-filter': str.refine(
      (f) => f === '' || (f.startsWith('(') && f.endsWith(')') && f.includes('{username}')),
      'must be a filter in parentheses naming {username}, such as (uid={username})',
    ),
    'auth-ldap-group-base': str,
    'auth-ldap-group-filter': str.refine(
      (f) => f === '' || (f.startsWith('(') && f.endsWith(')')),
      'must be a filter in parentheses, such as (member={dn})',
    ),
    'auth-token-issuer': str,
    'auth-token-realm': str,
    'auth-token-root-certs': str,
    'auth-token-service': str,
    'cache-password': str,
    'cache-remoteurl': str.refine(
      (v) => v === '' || URL.canParse(v),
      'must be the URL of the registry to cache, such as https://registry-1.docker.io',
    ),
    'cache-username': str,
    'debug-port': port,
    'gc-interval': str.refine(
      (v) => v === '' || (parseDuration(v) ?? 0) > 0,
      'must be a duration such as 24h or 30m (empty: no scheduled collection)',
    ),
    'http-host': str.refine(
      (v) => v === '' || URL.canParse(v),
      'must be a URL such as https://registry.example.com/',
    ),
    'log-level': z.enum(['error', 'warn', 'info', 'debug']),
    'prometheus-metrics': z.boolean(),
    'registry-image': str,
    'registry-name': z
      .string()
      .regex(/^[a-z0-9][a-z0-9_.-]*$/, 'must be a service name (lower-case letters, digits, . _ -)'),
    'registry-port': port,
    'retention-rules': retentionRules,
    'registry-http-proxy': str,
    'registry-https-proxy': str,
    'storage-cache': z.enum(['inmemory', 'disabled']),
    'storage-delete': z.boolean(),
    'storage-redirect-disable': z.boolean(),
    'storage-read-only': z.boolean(),
    'storage-swift-authurl': str,
    'storage-swift-container': str,
    'storage-swift-password': str,
    'storage-swift-region': str,
    'storage-swift-tenant': str,
    'storage-swift-username': str,
    'storage-swift-domain': str,
    'tls-ca-blob': str,
    'ui-enabled': z.boolean(),
    'ui-title': str.refine((v) => v.length <= 200, 'must be at most 200 characters'),
    'tls-cert-blob': str,
    'tls-key-blob': str,
    'tls-ca-path': str,
    'tls-cert-path': str,
    'tls-key-path': str,
    'storage-s3-accesskey': str,
    'storage-s3-secretkey': str,
    'storage-s3-region': str,
    'storage-s3-regionendpoint': str,
    'storage-s3-forcepathstyle': z.boolean(),
    'storage-s3-bucket': str,
    'storage-s3-encrypt': z.boolean(),
    'storage-s3-keyid': str,
    'storage-s3-secure': z.boolean(),
    'storage-s3-skip-verify': z.boolean(),
    'storage-s3-skip-v4-auth': z.boolean(),
    'storage-s3-chunksize': z.coerce
      .number()
      .int()
      .min(5 * 1024 * 1024, 'must be at least 5 MiB (5242880)'),
    'storage-s3-multipartcopychunksize': z.coerce
      .number()
      .int()
      .min(5 * 1024 * 1024, 'must be at least 5 MiB (5242880)'),
    'storage-s3-multipartcopymaxconcurrency': z.coerce.number().int().min(1, 'must be at least 1'),
    'storage-s3-multipartcopythresholdsize': z.coerce.number().int().min(0, 'must not be negative'),
    'storage-s3-rootdirectory': str,
    'storage-s3-storageclass': z.enum([
      'STANDARD',
      'REDUCED_REDUNDANCY',
      'STANDARD_IA',
      'INTELLIGENT_TIERING',
      'NONE',
    ]),
    'storage-s3-useragent': str,
    'storage-s3-usedualstack': z.boolean(),
    'storage-s3-accelerate': z.boolean(),
    'storage-s3-objectacl': str,
    'storage-s3-loglevel': str,
    nagios_context: str,
    nagios_servicegroups: str,
  })
  // A directory needs the account that searches it and where its users are.
  .superRefine((c, ctx) => {
    if (!c['auth-ldap-url']) return;
    for (const option of [
      'auth-ldap-bind-dn',
      'auth-ldap-bind-password',
      'auth-ldap-user-base',
      'auth-ldap-user-filter',
    ] as const)
      if (!c[option])
        ctx.addIssue({ code: 'custom', path: [option], message: 'is needed with auth-ldap-url' });
  })
  // The debug server listens beside the API: the same port would stop the registry at start.
  .refine((c) => c['debug-port'] !== c['registry-port'], {
    path: ['debug-port'],
    message: 'must differ from registry-port',
  });

export type CharmConfig = z.output<typeof charmConfigSchema>;

/** A problem with one option: its name and what is wrong, never its value (it may be a secret). */
export interface OptionProblem {
  option: string;
  reason: string;
}

/** zod's generic messages said as an operator reads them in one status line (never naming the value). */
function plainly(message: string): string {
  const oneOf = /^Invalid option: expected one of (.*)$/.exec(message);
  if (oneOf) return `must be one of ${(oneOf[1] as string).replaceAll('"', '').split('|').join(', ')}`;
  const type = /^Invalid input: expected (\w+)/.exec(message);
  if (type) return `must be a ${type[1]}`;
  return message;
}

export function parseCharmConfig(raw: Record<string, unknown>): {
  config?: CharmConfig;
  problems: OptionProblem[];
} {
  const result = charmConfigSchema.safeParse(raw);
  if (result.success) return { config: result.data, problems: [] };
  return {
    problems: result.error.issues.map((i) => ({ option: String(i.path[0]), reason: plainly(i.message) })),
  };
}
