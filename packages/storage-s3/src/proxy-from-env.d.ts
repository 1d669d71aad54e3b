// proxy-from-env ships no types: its one function, as documented.
declare module 'proxy-from-env' {
  /** The proxy URL HTTP(S)_PROXY / NO_PROXY name for `url`, or '' for a direct connection. */
  export function getProxyForUrl(url: string | URL): string;
}
