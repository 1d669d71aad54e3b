import { runDriverContract } from './contract.js';
import { InMemoryDriver } from './inmemory.js';

// The in-memory driver holds whole files by design, so its large-file run stays small.
runDriverContract('inmemory', async () => ({ driver: new InMemoryDriver(), cleanup: async () => {} }), {
  largeFileSize: 16 * 1024 * 1024,
});
