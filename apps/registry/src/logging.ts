import type { RegistryConfig } from '@regop/registry';
import type { FastifyServerOptions } from 'fastify';
import { pino } from 'pino';
import { textFormatter } from './log-text.js';

/** distribution's level names, and pino's for them. */
const LOG_LEVELS: Record<string, string> = {
  panic: 'fatal',
  fatal: 'fatal',
  error: 'error',
  warn: 'warn',
  info: 'info',
  debug: 'debug',
  trace: 'trace',
};

export interface Logging {
  /** Fastify's `logger` option. */
  logger: NonNullable<FastifyServerOptions['logger']>;
  /** Writes out what is buffered, at shutdown. */
  flush(): void;
}

/**
 * The server's logger as the config's log section says: level, fields, and formatter as distribution's (json,
 * the default; text, logrus's key=value lines; logstash). Without a stream of the caller's, lines go to stdout
 * asynchronously (buffered, so an access line per request stays off the hot path) and are flushed every 100 ms,
 * so a line shows in a terminal or log file as it happens, not 4 KiB later.
 */
export function configureLogging(config: RegistryConfig, stream?: NodeJS.WritableStream): Logging {
  const buffered = stream ? undefined : pino.destination({ sync: false, minLength: 4096 });
  if (buffered)
    setInterval(() => {
      try {
        buffered.flush();
      } catch {
        // Closed at shutdown: the exit path flushes what is left.
      }
    }, 100).unref();
  const destination = stream ?? buffered;
  const formatter = config.log?.formatter ?? 'json';
  return {
    logger: {
      level: LOG_LEVELS[config.log?.level ?? config.loglevel ?? 'info'] ?? 'info',
      base: { pid: process.pid, ...(config.log?.fields ?? {}) },
      stream: formatter === 'text' && destination ? textFormatter(destination) : destination,
      // Level names ("info"), as distribution writes them, not pino's numbers.
      formatters: { level: (label: string) => ({ level: label }) },
      // ISO 8601 times, as distribution's logs have them (pino's default is epoch milliseconds).
      ...(formatter === 'logstash'
        ? {
            messageKey: 'message',
            timestamp: () => `,"@timestamp":"${new Date().toISOString()}","@version":"1"`,
          }
        : { timestamp: () => `,"time":"${new Date().toISOString()}"` }),
    },
    flush: () => buffered?.flushSync(),
  };
}
