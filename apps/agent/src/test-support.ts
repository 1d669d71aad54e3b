// Shared by the agent's tests (not built: tsconfig leaves it out).
import { createServer } from 'node:net';
import { join } from 'node:path';

export const CHARM_DIR = join(import.meta.dirname, '../../../charm');

/** A free TCP port on 127.0.0.1. */
export const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
