import type { DriverDescriptor } from '@regop/storage';
import { s3OptionsSchema } from './options.js';

/** storage.s3: the bucket is checked (reached, credentials accepted) before the driver is used. */
export const s3: DriverDescriptor<typeof s3OptionsSchema> = {
  name: 's3',
  optionsSchema: s3OptionsSchema,
  async create(options) {
    // The AWS SDK loads only when a config names this driver: it costs a filesystem registry's start for nothing.
    const { S3Driver } = await import('./driver.js');
    const driver = new S3Driver(options);
    await driver.checkAccess();
    return driver;
  },
};
