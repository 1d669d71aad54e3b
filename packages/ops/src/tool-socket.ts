/**
 * The local model's fast path for hook tools. `pnpm model` serves the tools from its own process on loopback
 * (REGOP_TOOLS_PORT, with REGOP_TOOLS_TOKEN) and puts shims on PATH that forward to it; a charm whose hook
 * calls a tool thirty times still pays a process for each shim. Where the server is in the environment, the
 * backend sends the same request itself. Under Juju neither variable is set and the tools run as processes.
 *
 * Request: `<token>\n<env count> <field count>\n` then env entries (KEY=VALUE) and fields (tool, args), each
 * ending in NUL. Answer: `<exit status>\n` then what the tool prints.
 */
import { connect } from 'node:net';

/** The environment a tool reads, sent along with each call. */
export const TOOL_ENV = [
  'REGOP_MODEL_DIR',
  'JUJU_UNIT_NAME',
  'JUJU_RELATION_ID',
  'JUJU_REMOTE_UNIT',
  'JUJU_ACTION_UUID',
] as const;

/** Where the model's tool server is, when this hook runs under it. */
export function toolServerFrom(env: NodeJS.ProcessEnv): { port: number; token: string } | undefined {
  const port = Number(env.REGOP_TOOLS_PORT);
  return port > 0 && env.REGOP_TOOLS_TOKEN ? { port, token: env.REGOP_TOOLS_TOKEN } : undefined;
}

/** Runs one tool on the server: its output, or an error with what it printed when it failed. */
export function callToolServer(
  server: { port: number; token: string },
  env: NodeJS.ProcessEnv,
  tool: string,
  args: string[],
): Promise<string> {
  const entries = TOOL_ENV.map((k) => `${k}=${env[k] ?? ''}`);
  const request = `${server.token}\n${entries.length} ${args.length + 1}\n${[...entries, tool, ...args].map((f) => `${f}\0`).join('')}`;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    // Written, not ended: the server closes the connection once it has answered.
    const socket = connect({ host: '127.0.0.1', port: server.port }, () => socket.write(request));
    // A tool answers in milliseconds; a model that stopped answering fails the hook rather than hang it.
    socket.setTimeout(60_000, () =>
      socket.destroy(new Error(`${tool}: no answer from the model within 60 s`)),
    );
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const newline = text.indexOf('\n');
      const code = Number(text.slice(0, newline));
      const output = text.slice(newline + 1).replace(/\n$/, '');
      if (newline > 0 && code === 0) resolve(output);
      else reject(new Error(`${tool}: ${output || 'no answer from the model'}`));
    });
  });
}
