import type { StorageDriver } from '@regop/storage';
import { BlobStore } from './blobs.js';
import { listRepositories } from './catalog.js';
import { ManifestService } from './manifests.js';
import { TagStore } from './tags.js';
import { UploadService } from './uploads.js';

export interface RegistryOptions {
  /** Bytes of manifest content cached in memory (default 32 MiB). */
  manifestCacheBytes?: number;
}

/** The content model over one storage driver: what the HTTP routes (and tools) use. */
export class Registry {
  readonly blobs: BlobStore;
  readonly uploads: UploadService;
  readonly tags: TagStore;
  readonly manifests: ManifestService;

  constructor(
    readonly driver: StorageDriver,
    options: RegistryOptions = {},
  ) {
    this.blobs = new BlobStore(driver);
    this.uploads = new UploadService(driver, this.blobs);
    this.tags = new TagStore(driver);
    this.manifests = new ManifestService(driver, this.blobs, this.tags, {
      cacheBytes: options.manifestCacheBytes ?? 32 * 1024 * 1024,
    });
  }

  repositories(limit: number, last?: string): Promise<string[]> {
    return listRepositories(this.driver, limit, last);
  }
}
