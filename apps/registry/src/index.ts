export { createDriver } from '@regop/drivers';
export { DEFAULT_CONFIG } from './default-config.js';
export { type RunningRegistry, type ServeOptions, serve } from './server.js';
