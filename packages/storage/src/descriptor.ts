import type * as z from 'zod';
import type { StorageDriver } from './driver.js';

/** What creating a driver may need to know of the registry that will use it. */
export interface DriverContext {
  /** The registry serves reads only (storage.maintenance.readonly): the store need not take writes. */
  readOnly: boolean;
}

/**
 * A storage driver as a registry config names it: its section's key, the schema of the section's parameters,
 * and how to make one. Each driver package exports one (from a module that loads the driver's code only in
 * create, so naming a driver costs nothing until it is used); the registry's table of drivers lists them.
 */
export interface DriverDescriptor<S extends z.ZodType = z.ZodType> {
  /** The storage section's key, as distribution names the driver (`storage.<name>`). */
  readonly name: string;
  /** The section's parameters; a failure is reported as `storage.<name>.<key>: <message>`. */
  readonly optionsSchema: S;
  /**
   * A driver for valid options. Where the backend can be checked now (reached, credentials accepted, the root
   * writable), it is, and a failure is an Error whose message names the option (`storage.<name>.<key>: ...`).
   */
  create(options: z.output<S>, context: DriverContext): Promise<StorageDriver>;
}
