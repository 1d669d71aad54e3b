/** The command line of `registry` and its subcommands: usage errors (exit 2), --help, one clear line per error. */
import { readFileSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';

/** A mistake in how a command was called: said in one line, exit status 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message);
  }
}

/** `--help` (or `--version`) was asked for: the text goes to stdout, exit status 0. */
export class HelpRequested extends Error {
  constructor(readonly usage: string) {
    super('help');
  }
}

/** Set when bundled into a packed charm (pack.mjs); read from package.json in a checkout. */
declare const __REGOP_VERSION__: string | undefined;
export const VERSION =
  typeof __REGOP_VERSION__ === 'string'
    ? __REGOP_VERSION__
    : (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
        .version;

type Options = NonNullable<ParseArgsConfig['options']>;
type ParsedCommandLine<T extends Options> = ReturnType<
  typeof parseArgs<{ options: T; allowPositionals: true; strict: true }>
>;

/** parseArgs, strict, with -h/--help; its errors become UsageErrors naming the flag. */
export function parseCommandLine<T extends Options>(config: {
  args: string[];
  options: T;
  usage: string;
}): ParsedCommandLine<T> {
  try {
    const parsed = parseArgs({
      args: config.args,
      allowPositionals: true,
      strict: true,
      options: { ...config.options, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' } },
    });
    const asked = parsed.values as { help?: boolean; version?: boolean };
    if (asked.help) throw new HelpRequested(config.usage);
    if (asked.version) throw new HelpRequested(`registry ${VERSION}`);
    return parsed as ParsedCommandLine<T>;
  } catch (err) {
    if (err instanceof HelpRequested) throw err;
    // node's messages carry advice about positionals after `--` that does not apply here.
    throw new UsageError((err as Error).message.replace(/\. To specify a positional.*$/s, ''), config.usage);
  }
}
