import { ConfigError, type StorageConfig } from '@regop/registry';
import { InMemoryDriver, type StorageDriver } from '@regop/storage';
import { FilesystemDriver } from '@regop/storage-fs';

/** The storage driver named by the config's storage section. */
export function createDriver(storage: StorageConfig): StorageDriver {
  if (storage.filesystem) {
    return new FilesystemDriver({ rootDirectory: storage.filesystem.rootdirectory ?? '/var/lib/registry' });
  }
  // Everything is lost when the process ends, as with distribution's inmemory driver: for tests and trials.
  if (storage.inmemory) return new InMemoryDriver();
  const configured = Object.keys(storage).find((k) => ['s3', 'swift', 'gcs', 'azure', 'oss'].includes(k));
  throw new ConfigError(
    `storage.${configured}: this registry does not provide the ${configured} driver yet (use storage.filesystem or storage.inmemory)`,
  );
}
