#!/usr/bin/env node
import { ConfigError, loadConfig, parseConfigText } from '@regop/registry';
import { HelpRequested, parseCommandLine, UsageError, VERSION } from './cli.js';
import { DEFAULT_CONFIG } from './default-config.js';
import { tuneHeapForUploads } from './heap.js';
import { GC_USAGE, SERVE_USAGE, TOKEN_USAGE } from './usage.js';

const USAGE = `Usage: registry <command> [arguments]

Commands:
  serve [CONFIG]           serve the registry API (distribution's config.yml)
  garbage-collect CONFIG   delete unreferenced blobs; safe while registries serve
  token-server CONFIG      serve Docker tokens for registries using auth.token (init DIR writes one)
  help [COMMAND]           this text, or one command's (also COMMAND --help)
  version                  the version (also --version)
`;

/** Each command's own help, for `registry help COMMAND`. */
const COMMAND_USAGE: Record<string, string> = {
  serve: SERVE_USAGE,
  'garbage-collect': GC_USAGE,
  'token-server': TOKEN_USAGE,
};

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
      const { positionals } = parseCommandLine({ args, options: {}, usage: SERVE_USAGE });
      if (positionals.length > 1) throw new UsageError('serve takes one CONFIG', SERVE_USAGE);
      const path = positionals[0] ?? process.env.REGISTRY_CONFIGURATION_PATH;
      const config = path
        ? await loadConfig(path)
        : parseConfigText(DEFAULT_CONFIG, process.env, 'built-in configuration');
      await (await import('./env-proxy.js')).routeThroughEnvProxy();
      tuneHeapForUploads();
      const { serve } = await import('./server.js');
      const running = await serve(config);
      onShutdown(() => running.close(), config.http?.draintimeout || 30_000);
      return -1;
    }
    // Each command loads what it needs when it runs.
    case 'garbage-collect':
      return (await import('./garbage-collect.js')).garbageCollect(args);
    case 'token-server':
      return (await import('./token-server.js')).tokenServer(args);
    case 'version':
    case '--version':
    case '-v':
      process.stdout.write(`registry ${VERSION}\n`);
      return 0;
    case 'help': {
      const [topic] = args;
      if (topic && !COMMAND_USAGE[topic]) throw new UsageError(`no command ${JSON.stringify(topic)}`, USAGE);
      process.stdout.write(topic ? `${COMMAND_USAGE[topic]}\n` : USAGE);
      return 0;
    }
    case undefined:
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`, USAGE);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    if (err instanceof HelpRequested) {
      process.stdout.write(`${err.usage}\n`);
      process.exit(0);
    }
    if (err instanceof UsageError) {
      process.stderr.write(`registry: ${err.message} (see --help)\n`);
      process.exit(2);
    }
    // One clear line: the stack only helps the developers, who can ask for it.
    const e = err as NodeJS.ErrnoException;
    const message =
      err instanceof ConfigError
        ? err.message
        : `${e?.message ?? String(err)}${e?.code ? ` (${e.code})` : ''}`;
    process.stderr.write(`registry: ${message}\n`);
    if (!(err instanceof ConfigError) && process.env.REGISTRY_DEBUG) process.stderr.write(`${e?.stack}\n`);
    process.exit(1);
  },
);
