import { type Access, type AccessController, AuthFailure, type AuthRequest } from '@regop/auth/access';

/** The token issuer the UI signs users in with (auth.token's realm), by distribution's OAuth2 token spec. */
export interface TokenSignIn {
  realm: string;
  service: string;
}

/** The issuer could not be reached or answered nonsense: the page says so with 503, never a 500. */
export class IssuerUnavailable extends Error {}
/** The session's refresh token is no longer good (expired, or its user removed): sign in again. */
export class SessionExpired extends Error {}

const CLIENT_ID = 'regop-ui';
/** The issuer takes at most this many scopes in one request (ours: 50); the UI asks in batches. */
const SCOPES_PER_TOKEN = 50;
const TIMEOUT_MS = 10_000;

/** Speaks to the token issuer for the UI: signs in (password grant) and trades the session for access. */
export class TokenClient {
  constructor(private readonly issuer: TokenSignIn) {}

  private async call(init: RequestInit, url = this.issuer.realm): Promise<Response> {
    try {
      return await fetch(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS), redirect: 'error' });
    } catch (err) {
      throw new IssuerUnavailable(
        `the token issuer at ${this.issuer.realm} did not answer: ${(err as Error).message}`,
      );
    }
  }

  private post(form: Record<string, string>): Promise<Response> {
    return this.call({
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ service: this.issuer.service, client_id: CLIENT_ID, ...form }).toString(),
    });
  }

  private async json(response: Response): Promise<Record<string, unknown>> {
    const body = (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined;
    if (!body || typeof body !== 'object')
      throw new IssuerUnavailable(
        `the token issuer at ${this.issuer.realm} answered ${response.status} without JSON`,
      );
    return body;
  }

  /** The refresh token a sign-in gives; undefined when the issuer refuses the credentials. */
  async signIn(username: string, password: string): Promise<string | undefined> {
    const response = await this.post({ grant_type: 'password', username, password, access_type: 'offline' });
    if (response.status === 401 || response.status === 403) return undefined;
    if (response.status === 429) {
      const seconds = Number(response.headers.get('retry-after')) || 60;
      throw new AuthFailure(
        'TOOMANYREQUESTS',
        `too many failed sign-ins; try again in ${seconds}s`,
        undefined,
        seconds,
      );
    }
    const body = await this.json(response);
    if (!response.ok || typeof body.refresh_token !== 'string')
      throw new IssuerUnavailable(
        `the token issuer at ${this.issuer.realm} gave no refresh token (${response.status}); it must support the OAuth2 password grant`,
      );
    return body.refresh_token;
  }

  /** An access token for the scopes: the session's user's, or anonymous without a session. */
  async access(session: string | undefined, scopes: string[]): Promise<string> {
    let response: Response;
    if (session) {
      response = await this.post({
        grant_type: 'refresh_token',
        refresh_token: session,
        scope: scopes.join(' '),
      });
      if (response.status === 401 || response.status === 400) throw new SessionExpired('sign in again');
    } else {
      const url = new URL(this.issuer.realm);
      url.searchParams.set('service', this.issuer.service);
      for (const scope of scopes) url.searchParams.append('scope', scope);
      response = await this.call({}, url.href);
    }
    const body = await this.json(response);
    const token = body.access_token ?? body.token;
    if (!response.ok || typeof token !== 'string')
      throw new IssuerUnavailable(`the token issuer at ${this.issuer.realm} answered ${response.status}`);
    return token;
  }
}

const pullOf = (name: string): Access => ({ type: 'repository', name, actions: ['pull'] });

/**
 * Who is looking and what they may pull, decided by the registry's own access controller for every name a page
 * shows: with token auth, on a token the issuer grants the viewer for those names; otherwise on the browser's
 * own credentials (Basic against htpasswd), as the API decides.
 */
export class Viewer {
  /** The user the controller authenticated, once one has. */
  user: string | undefined;

  constructor(
    private readonly request: AuthRequest,
    private readonly controller: AccessController | undefined,
    private readonly tokens?: { client: TokenClient; session: string | undefined },
  ) {}

  get signedIn(): boolean {
    return this.tokens ? this.tokens.session !== undefined : this.request.headers.authorization !== undefined;
  }

  /** For each name, undefined when the viewer may pull it, else the controller's refusal. */
  async pull(names: string[]): Promise<(AuthFailure | undefined)[]> {
    const controller = this.controller;
    if (!controller) return names.map(() => undefined);
    const results: (AuthFailure | undefined)[] = [];
    for (let i = 0; i < names.length; i += SCOPES_PER_TOKEN) {
      const batch = names.slice(i, i + SCOPES_PER_TOKEN);
      const headers = this.tokens
        ? {
            authorization: `Bearer ${await this.tokens.client.access(
              this.tokens.session,
              batch.map((n) => `repository:${n}:pull`),
            )}`,
          }
        : this.request.headers;
      for (const name of batch) {
        try {
          const grant = await controller.authorize({ ...this.request, headers }, [pullOf(name)]);
          this.user ??= grant.user;
          results.push(undefined);
        } catch (err) {
          if (!(err instanceof AuthFailure)) throw err;
          results.push(err);
        }
      }
    }
    return results;
  }

  /** Throws the controller's refusal unless the viewer may pull `name`. */
  async require(name: string): Promise<void> {
    const [refusal] = await this.pull([name]);
    if (refusal) throw refusal;
  }

  /**
   * Without token auth, the list page first asks for the browser's credentials as the API's base route does,
   * so a browser with none is asked for them instead of being shown an empty list.
   */
  async authenticate(): Promise<void> {
    if (this.controller && !this.tokens) this.user = (await this.controller.authorize(this.request, [])).user;
  }
}
