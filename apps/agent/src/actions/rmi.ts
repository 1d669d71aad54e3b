import type { Machine } from '@regop/ops';
import { ActionError, type CharmContext } from '@regop/ops';
import { collectGarbage, Digest } from '@regop/registry';
import type { CharmConfig } from '../options.js';
import { openRegistry } from '../store.js';

const OPTIONS = ['--force', '-f', '--no-prune'];

/**
 * Removes tags and manifests like `docker rmi`: a tag is untagged (the manifest goes with its last tag); a
 * digest goes only when no tag names it, or with --force. Then, unless --no-prune, garbage collection frees
 * the blobs nothing references any more (safe while the registry serves pushes; one unit's collection at a time).
 */
export async function rmiAction(ctx: CharmContext, machine: Machine, config: CharmConfig): Promise<void> {
  const params = await ctx.backend.actionGet();
  const options = String(params.options ?? '')
    .split(/\s+/)
    .filter(Boolean);
  const unknown = options.filter((o) => !OPTIONS.includes(o));
  if (unknown.length)
    throw new ActionError(`unknown option(s) ${unknown.join(' ')}: use --force, --no-prune`);
  const force = options.includes('--force') || options.includes('-f');
  const images = String(params.image ?? '')
    .split(/\s+/)
    .filter(Boolean);
  if (images.length === 0) throw new ActionError('missing required image parameter');
  if (config['storage-read-only'])
    throw new ActionError('the registry is read-only (storage-read-only): nothing can be removed');
  const registry = await openRegistry(machine);

  const removed: string[] = [];
  for (const image of images) {
    const at = image.indexOf('@');
    const colon = image.lastIndexOf(':');
    if (at > 0) {
      const name = image.slice(0, at);
      let digest: Digest;
      try {
        digest = Digest.parse(image.slice(at + 1));
      } catch {
        throw new ActionError(`${image}: not a digest reference`);
      }
      if (!(await registry.manifests.exists(name, digest))) throw new ActionError(`${image}: no such image`);
      const tags = await registry.tags.tagsOf(name, digest);
      if (tags.length && !force)
        throw new ActionError(
          `${image} is tagged ${tags.map((t) => `${name}:${t}`).join(', ')}: remove the tags or use --force`,
        );
      await registry.manifests.delete(name, digest);
      removed.push(`Deleted: ${name}@${digest}`, ...tags.map((t) => `Untagged: ${name}:${t}`));
    } else if (colon > 0 && !image.slice(colon).includes('/')) {
      const name = image.slice(0, colon);
      const tag = image.slice(colon + 1);
      const digest = await registry.tags.resolve(name, tag).catch(() => undefined);
      if (!digest) throw new ActionError(`${image}: no such image`);
      const others = (await registry.tags.tagsOf(name, digest)).filter((t) => t !== tag);
      if (others.length) {
        await registry.tags.untag(name, tag);
        removed.push(`Untagged: ${image}`);
      } else {
        await registry.manifests.delete(name, digest);
        removed.push(`Untagged: ${image}`, `Deleted: ${name}@${digest}`);
      }
    } else {
      throw new ActionError(`${image}: name a tag (REPOSITORY:TAG) or a digest (REPOSITORY@sha256:...)`);
    }
  }
  await ctx.backend.actionLog(removed.join('\n'));
  let freed = 0;
  if (!options.includes('--no-prune')) {
    // No grace period: the collector's quarantine and rescan keep pushes in flight safe without one. Units
    // sharing an object store take turns through the storage lease: this one waits for another's run.
    const result = await collectGarbage(registry.driver, {
      graceMs: 0,
      lease: { owner: ctx.unitName, waitMs: 10 * 60_000 },
    });
    freed = result.bytesFreed;
  }
  await ctx.backend.actionSet({ output: removed.join('\n'), freed: String(freed) });
}
