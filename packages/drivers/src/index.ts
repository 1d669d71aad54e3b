export { createDriver, DRIVERS, type DriverName } from './drivers.js';
