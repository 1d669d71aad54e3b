import { BaseDriver, type StorageDriver } from '@regop/storage';
import { BlobStore } from './blobs.js';
import { listRepositories } from './catalog.js';
import { ManifestService, type ManifestValidation } from './manifests.js';
import { TagStore } from './tags.js';
import { UploadService } from './uploads.js';

export interface RegistryOptions {
  /** Bytes of manifest content cached in memory (default 32 MiB). */
  manifestCacheBytes?: number;
  /** What pushed manifests must find in the repository (default: everything they name). */
  validation?: ManifestValidation;
}

/** The content model over one storage driver: what the HTTP routes (and tools) use. */
export class Registry {
  readonly blobs: BlobStore;
  readonly uploads: UploadService;
  readonly tags: TagStore;
  readonly manifests: ManifestService;
  /** The driver behind the base wrapper (validated paths, typed errors, timed operations). */
  readonly driver: BaseDriver;

  constructor(driver: StorageDriver, options: RegistryOptions = {}) {
    const base = BaseDriver.wrap(driver);
    this.driver = base;
    this.blobs = new BlobStore(base);
    this.uploads = new UploadService(base, this.blobs);
    this.tags = new TagStore(base);
    this.manifests = new ManifestService(base, this.blobs, this.tags, {
      cacheBytes: options.manifestCacheBytes ?? 32 * 1024 * 1024,
      ...(options.validation && { validation: options.validation }),
    });
  }

  repositories(limit: number, last?: string): Promise<string[]> {
    return listRepositories(this.driver, limit, last);
  }
}
