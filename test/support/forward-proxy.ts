import { createServer, request as httpRequest } from 'node:http';
import { connect } from 'node:net';

export interface ForwardProxy {
  url: string;
  /** What went through it: `CONNECT host:port` tunnels and `METHOD absolute-URI` requests. */
  seen: string[];
  close(): Promise<void>;
}

/** A forward HTTP proxy on 127.0.0.1 (as HTTP_PROXY / HTTPS_PROXY name one) that records what it carries. */
export async function startForwardProxy(): Promise<ForwardProxy> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const out = httpRequest(req.url as string, { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  server.on('connect', (req, socket, head) => {
    seen.push(`CONNECT ${req.url}`);
    const [targetHost, targetPort] = (req.url as string).split(':');
    const tunnel = connect(Number(targetPort), targetHost as string, () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      tunnel.write(head);
      tunnel.pipe(socket);
      socket.pipe(tunnel);
    });
    tunnel.on('error', () => socket.destroy());
    socket.on('error', () => tunnel.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
