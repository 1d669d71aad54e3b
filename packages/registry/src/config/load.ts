import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import type * as z from 'zod';
import { configSchema, driverKeys, IGNORED_SECTIONS, type RegistryConfig } from './schema.js';

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly issues: string[] = [],
  ) {
    super(issues.length ? `${message}:\n  ${issues.join('\n  ')}` : message);
    this.name = 'ConfigError';
  }
}

type Tree = Record<string, unknown>;
const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Applies `REGISTRY_SECTION_KEY=value` overrides as distribution does: each `_`-separated word is one level
 * (REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY -> storage.filesystem.rootdirectory), values are parsed as YAML,
 * and REGISTRY_STORAGE=<driver> switches the storage driver.
 */
export function applyEnvironment(raw: Tree, env: NodeJS.ProcessEnv): Tree {
  const config = structuredClone(raw);
  const keys = Object.keys(env)
    .filter((k) => k.startsWith('REGISTRY_') && k !== 'REGISTRY_CONFIGURATION_PATH')
    .sort((a, b) => a.length - b.length);
  for (const key of keys) {
    const words = key.slice('REGISTRY_'.length).toLowerCase().split('_').filter(Boolean);
    const value = parseYaml(env[key] as string) as unknown;
    if (words.length === 1 && words[0] === 'storage' && typeof value === 'string') {
      const storage = isTree(config.storage) ? config.storage : {};
      for (const driver of driverKeys(storage)) if (driver !== value) delete storage[driver];
      if (!isTree(storage[value])) storage[value] = {};
      config.storage = storage;
      continue;
    }
    let node: Tree = config;
    for (const word of words.slice(0, -1)) {
      if (!isTree(node[word])) node[word] = {};
      node = node[word] as Tree;
    }
    node[words[words.length - 1] as string] = value;
  }
  return config;
}

function describe(issues: z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const key = issue.path.join('.') || '(top level)';
    if (issue.code === 'unrecognized_keys') {
      return `${key === '(top level)' ? '' : `${key}.`}${issue.keys.join(', ')}: unknown key${issue.keys.length > 1 ? 's' : ''}`;
    }
    return `${key}: ${issue.message}`;
  });
}

/** Validates a parsed config (after environment overrides), with errors that name each offending key. */
export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = {}): RegistryConfig {
  if (!isTree(raw)) throw new ConfigError('configuration must be a YAML mapping');
  const result = configSchema.safeParse(applyEnvironment(raw, env));
  if (!result.success) throw new ConfigError('invalid configuration', describe(result.error.issues));
  return result.data;
}

export async function loadConfig(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RegistryConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read configuration ${path}: ${(err as Error).message}`);
  }
  return parseConfigText(text, env, path);
}

export function parseConfigText(
  text: string,
  env: NodeJS.ProcessEnv = {},
  source = 'configuration',
): RegistryConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${source} is not valid YAML: ${(err as Error).message}`);
  }
  return parseConfig(raw ?? {}, env);
}

/** Sections present in the config that this registry does not act on (to be logged as such). */
export function ignoredSections(config: RegistryConfig): string[] {
  return IGNORED_SECTIONS.filter((s) => config[s] !== undefined);
}

/**
 * Keys of registry:2's config that are set and mean nothing here, each with why: logged at start by name, so
 * nothing a registry:2 user wrote is dropped silently. (Keys this registry cannot do without are refused.)
 */
export function unusedKeys(config: RegistryConfig): string[] {
  const unused: string[] = [];
  if (config.http?.secret !== undefined)
    unused.push('http.secret: not needed (upload state is kept in storage, not signed into upload URLs)');
  if (config.http?.http2?.disabled === false)
    unused.push('http.http2: HTTP/2 is not served; clients use HTTP/1.1');
  if (config.http?.h2c?.enabled)
    unused.push('http.h2c: HTTP/2 without TLS is not served; clients use HTTP/1.1');
  if (config.log?.hooks?.length)
    unused.push('log.hooks: mail hooks are not sent; watch the log or the metrics');
  if (config.storage.filesystem?.maxthreads !== undefined)
    unused.push(
      'storage.filesystem.maxthreads: filesystem concurrency is the UV_THREADPOOL_SIZE of the process environment',
    );
  if (config.notifications?.events?.includereferences)
    unused.push('notifications.events.includereferences: events carry no layer references');
  if (config.validation?.manifests?.urls)
    unused.push('validation.manifests.urls: foreign layer URLs are not checked against allow and deny');
  return unused;
}
