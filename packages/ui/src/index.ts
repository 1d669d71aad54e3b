export type { TokenSignIn } from './access.js';
export type { UiStatus } from './pages/layout.js';
export { PAGE_SIZE, type RegistryUiOptions, registryUi } from './plugin.js';
