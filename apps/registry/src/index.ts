export { DEFAULT_CONFIG } from './default-config.js';
export { createDriver } from './drivers.js';
export { type RunningRegistry, type ServeOptions, serve } from './server.js';
