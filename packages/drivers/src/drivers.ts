import { ConfigError, type StorageConfig, storageDriverSection } from '@regop/registry';
import {
  BaseDriver,
  type DriverContext,
  type DriverDescriptor,
  inmemory,
  parseDriverOptions,
} from '@regop/storage';
import { filesystem } from '@regop/storage-fs/descriptor';
import { s3 } from '@regop/storage-s3/descriptor';
import { swift } from '@regop/storage-swift/descriptor';

/**
 * The storage drivers this registry provides, by the name a config's storage section gives them. Adding one
 * is a package exporting its descriptor, and a line here.
 */
export const DRIVERS = [filesystem, inmemory, s3, swift] as const satisfies readonly DriverDescriptor[];

export type DriverName = (typeof DRIVERS)[number]['name'];

/**
 * The storage driver the config's storage section names, behind the base wrapper: its parameters validated by
 * its descriptor, and the backend checked where it can be, so a bad root, endpoint or credentials fail the start
 * with the config key named.
 */
export async function createDriver(storage: StorageConfig, context: DriverContext): Promise<BaseDriver> {
  const { name, parameters } = storageDriverSection(storage);
  const descriptor: DriverDescriptor | undefined = DRIVERS.find((d) => d.name === name);
  if (!descriptor)
    throw new ConfigError(
      `storage.${name}: this registry does not provide the ${name} driver (use ${DRIVERS.map((d) => d.name).join(', ')})`,
    );
  try {
    const options = parseDriverOptions(name, descriptor.optionsSchema, parameters);
    return BaseDriver.wrap(await descriptor.create(options, context));
  } catch (err) {
    throw err instanceof ConfigError ? err : new ConfigError((err as Error).message);
  }
}
