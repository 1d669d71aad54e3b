#!/usr/bin/env node
import { ConfigError, loadConfig, parseConfigText } from '@regop/registry';
import { DEFAULT_CONFIG } from './default-config.js';
import { GC_USAGE, garbageCollect } from './garbage-collect.js';
import { serve } from './server.js';
import { TOKEN_USAGE, tokenServer } from './token-server.js';

const USAGE = `Usage: registry <command> [arguments]

Commands:
  serve [CONFIG]   serve the registry API. CONFIG is distribution's config.yml; without it,
                   $REGISTRY_CONFIGURATION_PATH, else a built-in config (filesystem storage in
                   ./data, listening on 127.0.0.1:5000). REGISTRY_* variables override its keys.
  garbage-collect CONFIG [--dry-run] [--delete-untagged] [--grace DURATION]
                   delete unreferenced blobs; safe while registries serve (see below)
  token-server CONFIG | init DIR
                   serve Docker tokens for registries using auth.token (see below)
  help             show this text

${GC_USAGE}

${TOKEN_USAGE}
`;

/** Drains in-flight requests on SIGTERM/SIGINT, then exits; a second signal exits at once. */
function onShutdown(close: () => Promise<void>, drainMs: number): void {
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) process.exit(1);
    closing = true;
    process.stderr.write(`registry: ${signal}: draining requests (up to ${drainMs / 1000}s)\n`);
    const force = setTimeout(() => process.exit(0), drainMs);
    force.unref();
    close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  switch (command) {
    case 'serve': {
      const path = args[0] ?? process.env.REGISTRY_CONFIGURATION_PATH;
      const config = path
        ? await loadConfig(path)
        : parseConfigText(DEFAULT_CONFIG, process.env, 'built-in configuration');
      const running = await serve(config);
      onShutdown(() => running.close(), config.http?.draintimeout || 30_000);
      return -1;
    }
    case 'garbage-collect':
      return garbageCollect(args);
    case 'token-server':
      return tokenServer(args);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`registry: unknown command ${JSON.stringify(command)}\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    const message = err instanceof ConfigError ? err.message : ((err as Error)?.stack ?? String(err));
    process.stderr.write(`registry: ${message}\n`);
    process.exit(1);
  },
);
