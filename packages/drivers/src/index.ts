export { createDriver } from './drivers.js';
