import { type CharmConfig, ldapUrls } from './options.js';
import { charmStorage, defined } from './storage.js';

/** Where the agent keeps the registry's files (below the machine root). */
export const PATHS = {
  config: '/etc/docker/registry/config.yml',
  htpasswd: '/etc/docker/registry/htpasswd',
  tokenBundle: '/etc/docker/registry/auth_token.pem',
  ldapCa: '/etc/docker/registry/ldap-ca.pem',
  data: '/srv/registry',
  state: '/var/lib/regop-agent/state.json',
  images: '/var/lib/regop-agent/images',
} as const;

/** Where the web UI is served (ui-enabled). */
export const UI_PATH = '/ui';

export interface RenderContext {
  /** Address to listen on: the unit's own in the local model, every interface on a machine. */
  bindAddress: string;
  /** TLS files in place (paths as the registry sees them), when TLS is on. */
  tls?: { certificate: string; key: string };
  /** Path prefix of the machine (the local model's unit directory). */
  root: (path: string) => string;
  /** Only the leader's registry schedules garbage collection (the storage lease keeps it one at a time). */
  leader: boolean;
}

/** The registry's config.yml, mapping the charm options as Canonical's charm does. */
export function renderRegistryConfig(config: CharmConfig, ctx: RenderContext): Record<string, unknown> {
  const { driver, parameters } = charmStorage(config);
  const storage: Record<string, unknown> = { [driver]: parameters(config, ctx.root(PATHS.data)) };
  if (config['storage-cache'] === 'inmemory') storage.cache = { blobdescriptor: 'inmemory' };
  storage.delete = { enabled: config['storage-delete'] };
  storage.maintenance = {
    readonly: { enabled: config['storage-read-only'] },
    ...((config['gc-interval'] || config['retention-rules'].length > 0) && {
      garbagecollect: {
        enabled: ctx.leader && config['gc-interval'] !== '',
        ...(config['gc-interval'] && { interval: config['gc-interval'] }),
        ...(config['retention-rules'].length > 0 && { retention: config['retention-rules'] }),
      },
    }),
  };
  storage.redirect = { disable: config['storage-redirect-disable'] };

  let auth: Record<string, unknown> | undefined;
  if (config['auth-token-realm']) {
    auth = {
      token: {
        realm: config['auth-token-realm'],
        service: config['auth-token-service'],
        issuer: config['auth-token-issuer'],
        rootcertbundle: ctx.root(PATHS.tokenBundle),
      },
    };
  } else if (config['auth-ldap-url']) {
    auth = {
      ldap: {
        realm: 'basic-realm',
        url: ldapUrls(config['auth-ldap-url']),
        ...(config['auth-ldap-starttls'] && { starttls: true }),
        ...(config['auth-ldap-ca'] && { cacert: ctx.root(PATHS.ldapCa) }),
        binddn: config['auth-ldap-bind-dn'],
        bindpassword: config['auth-ldap-bind-password'],
        userbase: config['auth-ldap-user-base'],
        userfilter: config['auth-ldap-user-filter'],
        ...(config['auth-ldap-group-base'] && {
          groupbase: config['auth-ldap-group-base'],
          groupfilter: config['auth-ldap-group-filter'],
        }),
      },
    };
  } else if (config['auth-basic-user'] && config['auth-basic-password']) {
    auth = { htpasswd: { realm: 'basic-realm', path: ctx.root(PATHS.htpasswd) } };
  }

  // cache-*: a pull-through cache of another registry, as Canonical's charm renders it.
  const proxy = config['cache-remoteurl']
    ? defined({
        remoteurl: config['cache-remoteurl'],
        username: config['cache-username'],
        password: config['cache-password'],
      })
    : undefined;

  return {
    version: '0.1',
    log: { level: config['log-level'], formatter: 'json', fields: { service: 'registry' } },
    storage,
    ...(auth && { auth }),
    ...(proxy && { proxy }),
    http: {
      addr: `${ctx.bindAddress}:${config['registry-port']}`,
      headers: { 'X-Content-Type-Options': ['nosniff'] },
      ...(config['http-host'] && { host: config['http-host'] }),
      ...(ctx.tls && { tls: ctx.tls }),
      debug: {
        addr: `${ctx.bindAddress}:${config['debug-port']}`,
        prometheus: { enabled: config['prometheus-metrics'], path: '/metrics' },
      },
    },
    health: { storagedriver: { enabled: true, interval: '10s', threshold: 3 } },
    ...(config['ui-enabled'] && {
      ui: { enabled: true, path: UI_PATH, ...(config['ui-title'] && { title: config['ui-title'] }) },
    }),
  };
}
