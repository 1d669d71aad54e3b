import { ConfigError, type StorageConfig } from '@regop/registry';
import { InMemoryDriver, type StorageDriver } from '@regop/storage';
import { FilesystemDriver } from '@regop/storage-fs';
import { parseS3Options, S3Driver } from '@regop/storage-s3';
import { parseSwiftOptions, SwiftDriver } from '@regop/storage-swift';

/**
 * The storage driver named by the config's storage section. Object stores are checked now, so a bad
 * endpoint or credentials fail the start with the config key named.
 */
export async function createDriver(storage: StorageConfig): Promise<StorageDriver> {
  if (storage.filesystem) {
    return new FilesystemDriver({ rootDirectory: storage.filesystem.rootdirectory ?? '/var/lib/registry' });
  }
  // Everything is lost when the process ends, as with distribution's inmemory driver: for tests and trials.
  if (storage.inmemory) return new InMemoryDriver();
  if (storage.s3) {
    let driver: S3Driver;
    try {
      driver = new S3Driver(parseS3Options(storage.s3));
      await driver.checkAccess();
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
    return driver;
  }
  if (storage.swift) {
    let driver: SwiftDriver;
    try {
      driver = new SwiftDriver(parseSwiftOptions(storage.swift));
      await driver.connect();
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
    return driver;
  }
  const configured = Object.keys(storage).find((k) => ['gcs', 'azure', 'oss'].includes(k));
  throw new ConfigError(
    `storage.${configured}: this registry does not provide the ${configured} driver (use filesystem, inmemory, s3 or swift)`,
  );
}
