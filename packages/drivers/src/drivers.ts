import { ConfigError, type StorageConfig } from '@regop/registry';
import { BaseDriver, InMemoryDriver, type StorageDriver } from '@regop/storage';

/**
 * The storage driver named by the config's storage section, its package loaded only then (the AWS SDK and the
 * Swift client cost a filesystem registry's start time and memory for nothing), behind the base wrapper.
 * Object stores are checked now, so a bad endpoint or credentials fail the start with the config key named.
 */
export async function createDriver(storage: StorageConfig): Promise<BaseDriver> {
  return BaseDriver.wrap(await namedDriver(storage));
}

async function namedDriver(storage: StorageConfig): Promise<StorageDriver> {
  if (storage.filesystem) {
    const { FilesystemDriver } = await import('@regop/storage-fs');
    return new FilesystemDriver({ rootDirectory: storage.filesystem.rootdirectory ?? '/var/lib/registry' });
  }
  // Everything is lost when the process ends, as with distribution's inmemory driver: for tests and trials.
  if (storage.inmemory) return new InMemoryDriver();
  if (storage.s3) {
    const s3 = storage.s3;
    return checked(async () => {
      const { parseS3Options, S3Driver } = await import('@regop/storage-s3');
      const driver = new S3Driver(parseS3Options(s3));
      await driver.checkAccess();
      return driver;
    });
  }
  if (storage.swift) {
    const swift = storage.swift;
    return checked(async () => {
      const { parseSwiftOptions, SwiftDriver } = await import('@regop/storage-swift');
      const driver = new SwiftDriver(parseSwiftOptions(swift));
      await driver.connect();
      return driver;
    });
  }
  const configured = Object.keys(storage).find((k) => ['gcs', 'azure', 'oss'].includes(k));
  throw new ConfigError(
    `storage.${configured}: this registry does not provide the ${configured} driver (use filesystem, inmemory, s3 or swift)`,
  );
}

/** Builds and checks an object-store driver; any failure is a config error (its message names the key). */
async function checked(build: () => Promise<StorageDriver>): Promise<StorageDriver> {
  try {
    return await build();
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}
