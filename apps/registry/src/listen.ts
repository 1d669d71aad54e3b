import { ConfigError } from '@regop/registry';

/** Splits a Go listen address (`host:port`, `:port`, `[v6]:port`) into what Node's listen takes. */
export function parseListenAddress(addr: string, key: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(addr);
  const port = Number(match?.[3]);
  if (!match || port > 65535)
    throw new ConfigError(
      `${key}: not a listen address like 127.0.0.1:5000 or :5000: ${JSON.stringify(addr)}`,
    );
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
}
