const PROXY_VARIABLES = ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy'];

/**
 * HTTP_PROXY, HTTPS_PROXY and NO_PROXY as curl reads them, for what this process fetches (an upstream it caches,
 * notification endpoints, health checks): Node's fetch does not read them itself. The charm's
 * registry-http-proxy and registry-https-proxy options set them.
 */
export async function routeThroughEnvProxy(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (!PROXY_VARIABLES.some((name) => env[name])) return false;
  (await import('./env-proxy-agent.js')).useEnvProxyAgent();
  return true;
}
