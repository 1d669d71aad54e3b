export type { Backend, LogLevel, StatusName } from './backend.js';
export {
  ActionError,
  type Charm,
  type CharmContext,
  dispatch,
  eventFromEnv,
  type JujuEvent,
} from './charm.js';
export { configDefaults, Harness, MemoryBackend } from './harness.js';
export { HookToolsBackend } from './hook-tools.js';
export { Machine } from './machine.js';
export {
  ProcessServices,
  processAlive,
  type ServiceDefinition,
  type ServiceManager,
  SystemdServices,
} from './services.js';
export { TOOL_ENV } from './tool-socket.js';
