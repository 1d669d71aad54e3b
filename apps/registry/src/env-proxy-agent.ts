import { EnvHttpProxyAgent, setGlobalDispatcher } from 'undici';

/**
 * Makes undici's EnvHttpProxyAgent the dispatcher of every fetch. A module of its own so undici is loaded only
 * when a proxy is named, and imported statically here: a bundle gives a dynamically imported CommonJS module
 * (undici) no named exports.
 */
export function useEnvProxyAgent(): void {
  setGlobalDispatcher(new EnvHttpProxyAgent());
}
