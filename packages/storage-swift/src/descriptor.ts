import type { DriverDescriptor } from '@regop/storage';
import { swiftOptionsSchema } from './options.js';

/** storage.swift: authenticated and the container made ready before the driver is used. */
export const swift: DriverDescriptor<typeof swiftOptionsSchema> = {
  name: 'swift',
  optionsSchema: swiftOptionsSchema,
  async create(options) {
    // The Swift client loads only when a config names this driver.
    const { SwiftDriver } = await import('./driver.js');
    const driver = new SwiftDriver(options);
    await driver.connect();
    return driver;
  },
};
