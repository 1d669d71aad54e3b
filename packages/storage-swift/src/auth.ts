import { BackendUnavailableError } from '@regop/storage';
import { type Dispatcher, request } from 'undici';
import * as z from 'zod';
import { authVersion, type SwiftOptions } from './options.js';

export interface SwiftAuth {
  /** The account's storage URL, e.g. http://proxy:8080/v1/AUTH_test. */
  storageUrl: string;
  token: string;
}

/** Authentication failed: the message names the config key to fix. */
export class SwiftAuthError extends Error {
  override name = 'SwiftAuthError';
}

const endpointV3 = z.object({ interface: z.string(), region: z.string().nullish(), url: z.string() });
const keystoneV3 = z.object({
  token: z.object({
    catalog: z.array(z.object({ type: z.string(), endpoints: z.array(endpointV3) })).default([]),
  }),
});
const keystoneV2 = z.object({
  access: z.object({
    token: z.object({ id: z.string() }),
    serviceCatalog: z
      .array(
        z.object({
          type: z.string(),
          endpoints: z.array(z.record(z.string(), z.string().nullish())),
        }),
      )
      .default([]),
  }),
});

/** Logs in with the configured protocol: tempauth (v1) or Keystone (v2.0, v3, with domains and trusts). */
export async function authenticate(options: SwiftOptions, dispatcher: Dispatcher): Promise<SwiftAuth> {
  const version = authVersion(options);
  const base = options.authurl.replace(/\/+$/, '');
  const url = version === 3 ? `${base}/auth/tokens` : version === 2 ? `${base}/tokens` : base;
  let res: Dispatcher.ResponseData;
  try {
    res =
      version === 1
        ? await request(url, {
            dispatcher,
            headers: { 'x-auth-user': options.username, 'x-auth-key': options.password },
          })
        : await request(url, {
            dispatcher,
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(version === 3 ? keystoneV3Body(options) : keystoneV2Body(options)),
          });
  } catch (err) {
    // The auth service being down is the backend's failure, not the config's: retried, and 503 meanwhile.
    const e = err as { code?: string; message?: string };
    throw new BackendUnavailableError(
      `storage.swift.authurl: cannot reach ${base}: ${e.code ?? ''} ${e.message ?? ''}`.trim(),
      'swift',
      { cause: err },
    );
  }
  const text = await res.body.text();
  if (res.statusCode === 401 || res.statusCode === 403) {
    throw new SwiftAuthError(
      `storage.swift.username/password: ${base} refused the credentials of ${options.username} (HTTP ${res.statusCode})`,
    );
  }
  if (res.statusCode >= 500) {
    throw new BackendUnavailableError(
      `storage.swift.authurl: ${url} answered HTTP ${res.statusCode}`,
      'swift',
    );
  }
  if (res.statusCode >= 300) {
    throw new SwiftAuthError(
      `storage.swift.authurl: ${url} answered HTTP ${res.statusCode}, not a Swift auth endpoint`,
    );
  }
  const header = (name: string) => {
    const v = res.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  if (version === 1) {
    const storageUrl = header('x-storage-url');
    const token = header('x-auth-token');
    if (!storageUrl || !token)
      throw new SwiftAuthError(`storage.swift.authurl: ${url} gave no storage URL or token`);
    return { storageUrl, token };
  }
  const json = parseJson(text, url);
  if (version === 3) {
    const token = header('x-subject-token');
    const body = keystoneV3.safeParse(json);
    if (!token || !body.success)
      throw new SwiftAuthError(`storage.swift.authurl: ${url} gave no Keystone v3 token`);
    const endpoints = body.data.token.catalog
      .filter((s) => s.type === 'object-store')
      .flatMap((s) => s.endpoints)
      .filter(
        (e) => e.interface === options.endpointtype && (!options.region || e.region === options.region),
      );
    return {
      storageUrl: pickEndpoint(
        endpoints.map((e) => e.url),
        options,
      ),
      token,
    };
  }
  const body = keystoneV2.safeParse(json);
  if (!body.success) throw new SwiftAuthError(`storage.swift.authurl: ${url} gave no Keystone v2 token`);
  const key = `${options.endpointtype}URL`;
  const urls = body.data.access.serviceCatalog
    .filter((s) => s.type === 'object-store')
    .flatMap((s) => s.endpoints)
    .filter((e) => !options.region || e.region === options.region)
    .map((e) => e[key])
    .filter((u): u is string => typeof u === 'string');
  return { storageUrl: pickEndpoint(urls, options), token: body.data.access.token.id };
}

function parseJson(text: string, url: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new SwiftAuthError(`storage.swift.authurl: ${url} answered with something other than JSON`);
  }
}

function pickEndpoint(urls: string[], options: SwiftOptions): string {
  const url = urls[0];
  if (!url) {
    throw new SwiftAuthError(
      `storage.swift.region: the catalog has no ${options.endpointtype} object-store endpoint${options.region ? ` in region ${options.region}` : ''}`,
    );
  }
  return url;
}

function keystoneV3Body(o: SwiftOptions) {
  const userDomain = o.domainid ? { id: o.domainid } : o.domain ? { name: o.domain } : undefined;
  const projectDomainId = o.tenantdomainid ?? o.domainid;
  const projectDomainName = o.tenantdomain ?? o.domain;
  const projectDomain = projectDomainId
    ? { id: projectDomainId }
    : projectDomainName
      ? { name: projectDomainName }
      : undefined;
  const scope = o.trustid
    ? { 'OS-TRUST:trust': { id: o.trustid } }
    : o.tenantid
      ? { project: { id: o.tenantid } }
      : o.tenant
        ? { project: { name: o.tenant, ...(projectDomain && { domain: projectDomain }) } }
        : undefined;
  return {
    auth: {
      identity: {
        methods: ['password'],
        password: {
          user: { name: o.username, password: o.password, ...(userDomain && { domain: userDomain }) },
        },
      },
      ...(scope && { scope }),
    },
  };
}

function keystoneV2Body(o: SwiftOptions) {
  return {
    auth: {
      passwordCredentials: { username: o.username, password: o.password },
      ...(o.tenantid ? { tenantId: o.tenantid } : o.tenant ? { tenantName: o.tenant } : {}),
    },
  };
}
