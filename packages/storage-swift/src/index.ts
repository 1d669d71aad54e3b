export { SwiftAuthError } from './auth.js';
export { SwiftDriver } from './driver.js';
export {
  authVersion,
  MIN_SEGMENT,
  parseSwiftOptions,
  type SwiftOptions,
  swiftOptionsSchema,
} from './options.js';
