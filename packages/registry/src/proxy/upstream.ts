import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { MANIFEST_MEDIA_TYPES } from '../content/media-types.js';
import { RegistryError } from '../errors.js';

export interface UpstreamOptions {
  /** distribution's proxy.remoteurl: the registry this one caches. */
  remoteurl: string;
  username?: string;
  password?: string;
}

/** The upstream could not be reached or failed: cached content is still served, the rest is 503 naming it. */
export class UpstreamUnavailable extends RegistryError {
  constructor(remote: string, why: string) {
    super('UNAVAILABLE', `upstream ${remote} is unavailable: ${why}`);
  }
}

interface Token {
  token: string;
  expires: number;
}

const ACCEPT = MANIFEST_MEDIA_TYPES.join(', ');

/** One `key="value"` list of a WWW-Authenticate challenge. */
function challengeParams(header: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const m of header.matchAll(/(\w+)="([^"]*)"/g))
    params[(m[1] as string).toLowerCase()] = m[2] as string;
  return params;
}

/**
 * The upstream registry's API as the cache needs it, logged in as the config says: Basic credentials, or the
 * Docker token flow (401 with a Bearer challenge, a token per repository scope from its realm, reused until
 * shortly before it expires).
 */
export class Upstream {
  private readonly base: string;
  private readonly tokens = new Map<string, Token>();
  /** Loaded as the cache starts, not at its first blob, which waited for it (about 70 ms). */
  private readonly blobRequest = import('./blob-request.js');

  constructor(private readonly options: UpstreamOptions) {
    this.base = options.remoteurl.replace(/\/+$/, '');
    this.blobRequest.catch(() => undefined);
  }

  get url(): string {
    return this.base;
  }

  private basic(): string | undefined {
    const { username, password } = this.options;
    return username ? `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}` : undefined;
  }

  /** A request for `repository`'s content, answering the upstream's challenge once if it makes one. */
  async request(
    method: 'GET' | 'HEAD',
    path: string,
    repository: string,
    accept?: string,
  ): Promise<Response> {
    const scope = `repository:${repository}:pull`;
    for (let attempt = 0; ; attempt++) {
      const token = this.tokens.get(scope);
      const authorization =
        token && token.expires > Date.now()
          ? `Bearer ${token.token}`
          : attempt > 0
            ? this.basic()
            : undefined;
      let res: Response;
      try {
        res = await fetch(`${this.base}${path}`, {
          method,
          headers: { ...(accept && { accept }), ...(authorization && { authorization }) },
          redirect: 'follow',
          signal: AbortSignal.timeout(30_000),
        });
      } catch (err) {
        throw new UpstreamUnavailable(
          this.base,
          (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message,
        );
      }
      if (res.status === 401 && attempt === 0) {
        await res.arrayBuffer();
        const challenge = res.headers.get('www-authenticate') ?? '';
        if (/^bearer/i.test(challenge)) await this.fetchToken(challengeParams(challenge), scope);
        continue;
      }
      if (res.status >= 500) {
        await res.arrayBuffer();
        throw new UpstreamUnavailable(this.base, `HTTP ${res.status}`);
      }
      if (res.status === 401 || res.status === 403) {
        await res.arrayBuffer();
        throw new UpstreamUnavailable(this.base, `it refused this cache's credentials (HTTP ${res.status})`);
      }
      return res;
    }
  }

  private async fetchToken(challenge: Record<string, string>, scope: string): Promise<void> {
    if (!challenge.realm) throw new UpstreamUnavailable(this.base, 'its Bearer challenge names no realm');
    const url = new URL(challenge.realm);
    if (challenge.service) url.searchParams.set('service', challenge.service);
    url.searchParams.set('scope', scope);
    const basic = this.basic();
    let res: Response;
    try {
      res = await fetch(url, {
        headers: basic ? { authorization: basic } : {},
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw new UpstreamUnavailable(this.base, `its token service ${url.origin}: ${(err as Error).message}`);
    }
    if (!res.ok) throw new UpstreamUnavailable(this.base, `its token service answered HTTP ${res.status}`);
    const body = (await res.json()) as { token?: string; access_token?: string; expires_in?: number };
    const token = body.token ?? body.access_token;
    if (!token) throw new UpstreamUnavailable(this.base, 'its token service gave no token');
    // Refreshed a little before it runs out (the spec's default lifetime is 60 s).
    this.tokens.set(scope, { token, expires: Date.now() + ((body.expires_in ?? 60) - 10) * 1000 });
  }

  /** The digest a manifest reference names upstream now, or undefined when upstream has no such manifest. */
  async manifestDigest(repository: string, reference: string): Promise<string | undefined> {
    const res = await this.request('HEAD', `/v2/${repository}/manifests/${reference}`, repository, ACCEPT);
    if (res.status === 404) return undefined;
    const digest = res.headers.get('docker-content-digest');
    if (!res.ok || !digest)
      throw new UpstreamUnavailable(this.base, `manifest HEAD answered HTTP ${res.status}`);
    return digest;
  }

  /** A manifest's bytes and media type, or undefined when upstream has none. */
  async manifest(
    repository: string,
    reference: string,
  ): Promise<{ body: Buffer; mediaType: string } | undefined> {
    const res = await this.request('GET', `/v2/${repository}/manifests/${reference}`, repository, ACCEPT);
    if (res.status === 404) return undefined;
    if (!res.ok) throw new UpstreamUnavailable(this.base, `manifest GET answered HTTP ${res.status}`);
    const body = Buffer.from(await res.arrayBuffer());
    return { body, mediaType: (res.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '' };
  }

  /** Every tag of a repository upstream (following its pages), or undefined when it has no such repository. */
  async tags(repository: string): Promise<string[] | undefined> {
    const tags: string[] = [];
    let path: string | undefined = `/v2/${repository}/tags/list?n=1000`;
    for (let page = 0; path && page < 100; page++) {
      const res = await this.request('GET', path, repository);
      if (res.status === 404) return undefined;
      if (!res.ok) throw new UpstreamUnavailable(this.base, `tags list answered HTTP ${res.status}`);
      tags.push(...(((await res.json()) as { tags?: string[] | null }).tags ?? []));
      const next = /<([^>]+)>;\s*rel="next"/.exec(res.headers.get('link') ?? '')?.[1];
      path = next ? new URL(next, this.base).pathname + new URL(next, this.base).search : undefined;
    }
    return tags.sort();
  }

  /** Upstream's referrers response for a subject (an OCI index; the filter passed on), when it serves one. */
  async referrers(repository: string, subject: string, artifactType?: string): Promise<Response | undefined> {
    const query = artifactType === undefined ? '' : `?artifactType=${encodeURIComponent(artifactType)}`;
    const res = await this.request('GET', `/v2/${repository}/referrers/${subject}${query}`, repository);
    if (res.ok && res.body) return res;
    // distribution 2.8 has no referrers API (404): the cache answers from what it holds.
    await res.arrayBuffer();
    return undefined;
  }

  /** A blob's response (its body a stream), or undefined when upstream has none. */
  async blob(repository: string, digest: string): Promise<{ size: number; body: Readable } | undefined> {
    // The GET goes first with what the cache holds (a token, or its Basic credentials); a 401 sends it to log in
    // (a challenge answered on a HEAD, a token fetched) and ask once more.
    const path = `/v2/${repository}/blobs/${digest}`;
    let res = await this.getBlob(path, repository);
    if (res.statusCode === 401) {
      await res.body.dump();
      if ((await this.request('HEAD', path, repository)).status === 404) return undefined;
      res = await this.getBlob(path, repository);
    }
    if (res.statusCode !== 200) {
      await res.body.dump();
      if (res.statusCode === 404) return undefined;
      throw new UpstreamUnavailable(this.base, `blob GET answered HTTP ${res.statusCode}`);
    }
    return { size: Number(res.headers['content-length'] ?? Number.NaN), body: res.body };
  }

  /** A GET of blob bytes with the credentials held for `repository`, following up to three redirects. */
  private async getBlob(path: string, repository: string): Promise<Dispatcher.ResponseData> {
    const token = this.tokens.get(`repository:${repository}:pull`);
    const authorization = token && token.expires > Date.now() ? `Bearer ${token.token}` : this.basic();
    const { requestBlob } = await this.blobRequest;
    let url = `${this.base}${path}`;
    for (let hop = 0; ; hop++) {
      let res: Dispatcher.ResponseData;
      try {
        // Credentials go to the upstream only, not to the storage it may redirect to.
        res = await requestBlob(url, hop === 0 && authorization ? { authorization } : {});
      } catch (err) {
        throw new UpstreamUnavailable(this.base, (err as { code?: string }).code ?? (err as Error).message);
      }
      const location = res.headers.location;
      if (res.statusCode < 300 || res.statusCode >= 400 || typeof location !== 'string' || hop === 3)
        return res;
      await res.body.dump();
      url = new URL(location, url).toString();
    }
  }
}
