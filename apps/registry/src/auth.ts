import { stat } from 'node:fs/promises';
import type { AccessController } from '@regop/auth';
import { ConfigError, type RegistryConfig } from '@regop/registry';

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
    const controller = new HtpasswdAccessController({ ...auth.htpasswd, onRefused: warn });
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
    const { realm, service, issuer, rootcertbundle, jwks, signingalgorithms } = auth.token;
    const controller = new TokenAccessController({
      realm,
      service,
      issuer,
      ...(rootcertbundle && { rootcertbundle }),
      ...(jwks && { jwks }),
      ...(signingalgorithms && { signingalgorithms }),
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
