import { readFile, stat } from 'node:fs/promises';
import type { AccessController, FailureLimitOptions } from '@regop/auth';
import {
  ConfigError,
  type failureLimitSchema,
  type LdapUsersConfig,
  type RegistryConfig,
} from '@regop/registry';
import type * as z from 'zod';

/** A file the config names, read now; a ConfigError naming the key when it cannot be. */
export async function readConfigured(path: string, key: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${key}: cannot read ${path}: ${(err as Error).message}`);
  }
}

/** The failed-login limit a `ratelimit` section asks for (defaults: 10 at once, 10 more a minute). */
export function failureLimit(
  section: z.output<typeof failureLimitSchema> | undefined,
): FailureLimitOptions | false {
  if (section?.disabled) return false;
  return { burst: section?.burst ?? 10, perMinute: section?.perminute ?? 10 };
}

/** Logs a client address or user that ran out of login attempts. */
export const logLimited =
  (warn: (message: string) => void) =>
  ({ address, user, retryAfterSeconds }: { address?: string; user: string; retryAfterSeconds: number }) =>
    warn(
      `failed logins rate-limited: user ${JSON.stringify(user)}${address ? ` from ${address}` : ''} may try again in ${retryAfterSeconds}s`,
    );

/** The access controller `auth:` configures (undefined: open), loaded now so a bad file fails the start. */
export async function accessControllerFor(
  auth: RegistryConfig['auth'],
  warn: (message: string) => void,
): Promise<AccessController | undefined> {
  if (!auth) return undefined;
  if (auth.silly)
    throw new ConfigError('auth.silly: a test-only scheme of distribution; use htpasswd or token');
  if ([auth.htpasswd, auth.token, auth.ldap].filter(Boolean).length > 1)
    throw new ConfigError('auth: configure one of htpasswd, token and ldap');
  // @regop/auth (node-forge, the JWT code) is loaded only when the config names an auth method.
  const { HtpasswdAccessController, TokenAccessController } = await import('@regop/auth');
  if (auth.ldap) return ldapUsers(auth.ldap, auth.ldap.realm, warn);
  if (auth.htpasswd) {
    const { realm, path, ratelimit } = auth.htpasswd;
    const controller = new HtpasswdAccessController({
      realm,
      path,
      onRefused: warn,
      rateLimit: failureLimit(ratelimit),
      onLimited: logLimited(warn),
    });
    // Debian's stock config.yml names the directory /etc/docker/registry. distribution starts with it and
    // lets nobody in; so does this registry, saying why (and it reads the file once the path names one).
    if ((await stat(auth.htpasswd.path).catch(() => undefined))?.isDirectory()) {
      warn(
        `auth.htpasswd.path: ${auth.htpasswd.path} is a directory, not an htpasswd file: every login is refused`,
      );
      return controller;
    }
    await controller.load().catch((err: Error) => {
      throw new ConfigError(`auth.htpasswd.path: cannot read ${auth.htpasswd?.path}: ${err.message}`);
    });
    return controller;
  }
  if (auth.token) {
    const {
      realm,
      service,
      issuer,
      rootcertbundle,
      jwks,
      signingalgorithms,
      autoredirect,
      autoredirectpath,
    } = auth.token;
    const controller = new TokenAccessController({
      realm,
      service,
      issuer,
      ...(rootcertbundle && { rootcertbundle }),
      ...(jwks && { jwks }),
      ...(signingalgorithms && { signingalgorithms }),
      ...(autoredirect && { autoredirect }),
      ...(autoredirectpath && { autoredirectpath }),
    });
    await controller.load().catch((err: Error) => {
      throw new ConfigError(
        err.message.startsWith('auth.token') ? err.message : `auth.token: ${err.message}`,
      );
    });
    return controller;
  }
  return undefined;
}

/** A directory as a source of users: the registry's auth.ldap, or the token server's ldap section. */
export async function ldapUsers(ldap: LdapUsersConfig, realm: string, warn: (message: string) => void) {
  const { LdapAccessController } = await import('@regop/auth');
  const bindPassword =
    ldap.bindpassword ??
    (await readConfigured(ldap.bindpasswordfile as string, 'ldap.bindpasswordfile')).trim();
  const ca = ldap.cacert ? await readConfigured(ldap.cacert, 'ldap.cacert') : undefined;
  if (!ldap.starttls && ldap.url.some((u) => u.startsWith('ldap:')))
    warn(
      'ldap.url: ldap:// without starttls: passwords cross the network in clear text (use ldaps:// or starttls)',
    );
  if (ldap.insecureskipverify)
    warn(
      "ldap.insecureskipverify: the directory's certificate is not verified; anyone between may read passwords",
    );
  return new LdapAccessController({
    realm,
    urls: ldap.url,
    ...(ldap.starttls && { starttls: true }),
    ...(ca && { ca }),
    ...(ldap.insecureskipverify && { insecureSkipVerify: true }),
    bindDn: ldap.binddn,
    bindPassword,
    userBase: ldap.userbase,
    userFilter: ldap.userfilter ?? '(uid={username})',
    ...(ldap.groupbase && { groupBase: ldap.groupbase }),
    ...(ldap.groupfilter && { groupFilter: ldap.groupfilter }),
    ...(ldap.groupattribute && { groupAttribute: ldap.groupattribute }),
    timeoutMs: ldap.timeout ?? 5_000,
    cacheTtlMs: ldap.cache?.ttl ?? 60_000,
    rateLimit: failureLimit(ldap.ratelimit),
    onLimited: logLimited(warn),
    onUnavailable: warn,
  });
}
