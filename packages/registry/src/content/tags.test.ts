import { BaseDriver, InMemoryDriver } from '@regop/storage';
import { describe, expect, it } from 'vitest';
import type { RegistryError } from '../errors.js';
import { paths } from '../paths.js';
import { Digest } from '../reference.js';
import { TagStore } from './tags.js';

/** The in-memory driver as an object store presents itself: walks carry every file's time. */
class FlatListingDriver extends InMemoryDriver {
  readonly flatListing = true;
}

const digest = Digest.parse(`sha256:${'a'.repeat(64)}`);
const tick = () => new Promise((r) => setTimeout(r, 5));

describe.each([
  ['directory by directory (stats)', () => new InMemoryDriver()],
  ['from one flat listing', () => new FlatListingDriver()],
])('tags by push time, %s', (_how, driver) => {
  it('lists every tag newest push first, a moved tag by its move', async () => {
    const tags = new TagStore(BaseDriver.wrap(driver()));
    for (const tag of ['old', 'middle', 'new']) {
      await tags.tag('team/app', tag, digest);
      await tick();
    }
    await tags.tag('team/app', 'old', digest);
    expect((await tags.pushed('team/app')).map((t) => t.tag)).toEqual(['old', 'new', 'middle']);
  });

  it('answers NAME_UNKNOWN for a repository that does not exist, and nothing for one without tags', async () => {
    const store = BaseDriver.wrap(driver());
    const tags = new TagStore(store);
    const unknown = await tags.pushed('no/such').catch((e: unknown) => e);
    expect((unknown as RegistryError).code).toBe('NAME_UNKNOWN');
    // A repository with a manifest and no tag.
    await store.putContent(paths.revisionLink('team/app', digest), Buffer.from(`${digest}`));
    expect(await tags.pushed('team/app')).toEqual([]);
  });
});
