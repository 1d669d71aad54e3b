/**
 * The hook tools served from the model's own process. A hook calls a tool many times, and a Node process per
 * call costs ~70 ms; the shims instead send the call over loopback TCP from bash (its /dev/tcp), a few
 * milliseconds, and this server runs it (the same runTool the Node fallback runs). Charms built on @regop/ops
 * send the same request themselves (its tool-socket.ts has the protocol). Only callers holding the token the
 * model gave its hooks are served.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { TOOL_ENV } from '@regop/ops';
import { runTool, ToolError } from './tools.js';

function serve(socket: Socket, token: string) {
  let buffer = Buffer.alloc(0);
  const answer = (code: number, text: string) => socket.end(`${code}\n${text}${text ? '\n' : ''}`);
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    const header = buffer.indexOf('\n', buffer.indexOf('\n') + 1);
    if (header < 0) return;
    const [given, counts] = buffer.subarray(0, header).toString('utf8').split('\n') as [string, string];
    const [envCount, fieldCount] = counts.split(' ').map(Number) as [number, number];
    const fields = buffer
      .subarray(header + 1)
      .toString('utf8')
      .split('\0');
    if (fields.length - 1 < envCount + fieldCount) return; // more to come
    socket.removeAllListeners('data');
    if (given !== token) {
      answer(1, 'ERROR not a hook of this model');
      return;
    }
    const env = Object.fromEntries(
      fields.slice(0, envCount).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
    );
    const [tool = '', ...args] = fields.slice(envCount, envCount + fieldCount);
    runTool(tool, args, env).then(
      (text) => answer(0, text),
      (err: Error) => answer(err instanceof ToolError ? 2 : 1, `ERROR ${err.message}`),
    );
  });
  socket.on('error', () => socket.destroy());
}

let running: Promise<{ port: number; token: string; server: Server }> | undefined;

/** Starts the server once per model command; it never keeps the process alive on its own. */
export function toolServer(): Promise<{ port: number; token: string }> {
  running ??= new Promise((resolve, reject) => {
    const token = randomBytes(16).toString('hex');
    const server = createServer((socket) => serve(socket, token));
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.unref();
      resolve({ port: (server.address() as { port: number }).port, token, server });
    });
  });
  return running;
}

/** A tool's shim: bash over /dev/tcp to the model's server, else (no server in this environment) Node. */
export function shim(tool: string, node: string, fallback: string): string {
  return `#!/bin/bash
if [ -n "$REGOP_TOOLS_PORT" ] && { exec 3<>"/dev/tcp/127.0.0.1/$REGOP_TOOLS_PORT"; } 2>/dev/null; then
  env=(${TOOL_ENV.map((k) => `"${k}=$${k}"`).join(' ')})
  { printf '%s\\n%s %s\\n' "$REGOP_TOOLS_TOKEN" "\${#env[@]}" "$(( $# + 1 ))"; printf '%s\\0' "\${env[@]}" ${tool} "$@"; } >&3
  IFS= read -r code <&3
  if [ "$code" = 0 ]; then cat <&3; else cat <&3 >&2; fi
  exit "\${code:-1}"
fi
exec "${node}" "${fallback}" ${tool} "$@"
`;
}
