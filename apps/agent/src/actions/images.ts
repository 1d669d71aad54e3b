import type { Machine } from '@regop/ops';
import { ActionError, type CharmContext } from '@regop/ops';
import { Digest, paths, type Registry } from '@regop/registry';
import { openRegistry } from '../store.js';

interface Descriptor {
  digest: string;
  size: number;
}
interface ManifestJson {
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
}

export interface ImageRow {
  repository: string;
  tag: string;
  /** The manifest's digest. */
  digest: string;
  /** The IMAGE ID docker shows: the config's digest (an index's own digest, having no config). */
  id: string;
  created: string;
  size: number;
}

const OPTIONS = ['--digests', '--no-trunc', '--quiet', '-q', '--format', 'json'];

/** Parses `images` options the way `docker images` takes them; unknown ones are refused. */
export function parseImageOptions(options: string) {
  const words = options.split(/\s+/).filter(Boolean);
  const unknown = words.filter(
    (w, i) => !OPTIONS.includes(w) && !(words[i - 1] === '--format' && w === 'json'),
  );
  if (unknown.length)
    throw new ActionError(
      `unknown option(s) ${unknown.join(' ')}: use --digests, --no-trunc, --quiet, --format json`,
    );
  const format = words.indexOf('--format');
  if (format >= 0 && words[format + 1] !== 'json') throw new ActionError('--format takes json');
  return {
    digests: words.includes('--digests'),
    noTrunc: words.includes('--no-trunc'),
    quiet: words.includes('--quiet') || words.includes('-q'),
    json: format >= 0,
  };
}

/** Size, creation time and image ID of a manifest: from its config and layers, or its children for an index. */
async function describe(
  registry: Registry,
  name: string,
  digest: Digest,
): Promise<{ size: number; created: string; id: string }> {
  const stored = await registry.manifests.get(name, { kind: 'digest', digest });
  const json = JSON.parse(stored.content.toString('utf8')) as ManifestJson;
  if (json.manifests) {
    let size = 0;
    let created = '';
    for (const child of json.manifests) {
      const d = await describe(registry, name, Digest.parse(child.digest)).catch(() => ({
        size: child.size,
        created: '',
      }));
      size += d.size;
      created ||= d.created;
    }
    return { size, created, id: `${digest}` };
  }
  const size = (json.config?.size ?? 0) + (json.layers ?? []).reduce((sum, l) => sum + l.size, 0);
  let created = '';
  if (json.config) {
    const config = await registry.driver.getContent(paths.blobData(Digest.parse(json.config.digest)));
    created = (JSON.parse(config.toString('utf8')) as { created?: string }).created ?? '';
  }
  return { size, created, id: json.config?.digest ?? `${digest}` };
}

export async function listImages(registry: Registry, filter = ''): Promise<ImageRow[]> {
  const [repoFilter, tagFilter] = filter.split(':', 2) as [string, string | undefined];
  const rows: ImageRow[] = [];
  for (const repository of await registry.repositories(1_000_000)) {
    if (repoFilter && repository !== repoFilter) continue;
    for (const tag of await registry.tags.list(repository).catch(() => [])) {
      if (tagFilter && tag !== tagFilter) continue;
      const digest = await registry.tags.resolve(repository, tag);
      rows.push({ repository, tag, digest: `${digest}`, ...(await describe(registry, repository, digest)) });
    }
  }
  return rows;
}

const units = ['B', 'kB', 'MB', 'GB', 'TB'];
const humanSize = (n: number) => {
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)}${units[i]}`;
};

/** The table `docker images` prints. */
export function formatImages(rows: ImageRow[], o: ReturnType<typeof parseImageOptions>): string {
  const id = (d: string) => (o.noTrunc ? d : d.slice(7, 19));
  // One ID per image, however many tags name it.
  if (o.quiet) return [...new Set(rows.map((r) => id(r.id)))].join('\n');
  const header = ['REPOSITORY', 'TAG', ...(o.digests ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'SIZE'];
  const table = [
    header,
    ...rows.map((r) => [
      r.repository,
      r.tag,
      ...(o.digests ? [r.digest] : []),
      id(r.id),
      r.created || '<unknown>',
      humanSize(r.size),
    ]),
  ];
  const widths = header.map((_, i) => Math.max(...table.map((row) => (row[i] as string).length)));
  return table
    .map((row) =>
      row
        .map((c, i) => c.padEnd(widths[i] as number))
        .join('   ')
        .trimEnd(),
    )
    .join('\n');
}

export async function imagesAction(ctx: CharmContext, machine: Machine): Promise<void> {
  const params = await ctx.backend.actionGet();
  const options = parseImageOptions(String(params.options ?? ''));
  const registry = await openRegistry(machine);
  const rows = await listImages(registry, String(params.repository ?? ''));
  await ctx.backend.actionSet({ output: options.json ? JSON.stringify(rows) : formatImages(rows, options) });
}
