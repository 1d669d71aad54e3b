/**
 * The `docker-registry` relation to registry clients (containerd, docker and the like). Every unit publishes,
 * JSON-encoded as the interface's reactive endpoints expect: `registry_netloc`, `registry_url`, `basic_user`,
 * `basic_password` and `tls_ca` (JSON null when unset). Published again on every reconcile, so any change
 * reaches the clients; unchanged settings do not wake them.
 */
import type { Backend } from '@regop/ops';
import type { RelationModule } from './relation.js';

export const DOCKER_REGISTRY = 'docker-registry';

export interface ClientConfig {
  netloc: string;
  url: string;
  basicUser?: string;
  basicPassword?: string;
  ca?: string;
}

export async function publishClientConfig(backend: Backend, config: ClientConfig): Promise<void> {
  const json = (v: string | undefined) => JSON.stringify(v ?? null);
  for (const id of await backend.relationIds(DOCKER_REGISTRY))
    await backend.relationSet(id, {
      registry_netloc: json(config.netloc),
      registry_url: json(config.url),
      basic_user: json(config.basicUser),
      basic_password: json(config.basicPassword),
      tls_ca: json(config.ca),
    });
}

/** Every related client is told the URL, the credentials and the CA. */
export const dockerRegistry: RelationModule<{ clients: number }> = {
  endpoint: DOCKER_REGISTRY,
  gather: (remotes) => ({ clients: remotes.length }),
  publish: (_state, _unit, served, { backend }) =>
    publishClientConfig(backend, {
      netloc: served.netloc,
      url: served.url,
      ...(served.basicAuth && { basicUser: served.basicAuth.user, basicPassword: served.basicAuth.password }),
      ...(served.ca && { ca: served.ca }),
    }),
  // containerd (its charm) reaches a related registry by its net location over https whatever registry_url
  // says: over plain HTTP its pulls fail, which the operator should see here rather than in a failed pod.
  note: (state, served) =>
    state.clients > 0 && !served.tlsOn
      ? 'Clients on docker-registry need TLS (containerd uses https).'
      : undefined,
};
