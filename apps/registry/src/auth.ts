import { stat } from 'node:fs/promises';
import type { AccessController, FailureLimitOptions } from '@regop/auth';
import { ConfigError, type failureLimitSchema, type RegistryConfig } from '@regop/registry';
import type * as z from 'zod';

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
  if (auth.htpasswd && auth.token) throw new ConfigError('auth: configure htpasswd or token, not both');
  // @regop/auth (node-forge, the JWT code) is loaded only when the config names an auth method.
  const { HtpasswdAccessController, TokenAccessController } = await import('@regop/auth');
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
