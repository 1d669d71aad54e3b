export { BaseDriver, isNetworkError, type OperationObserver } from './base.js';
export type { DriverContext, DriverDescriptor } from './descriptor.js';
export type {
  FileInfo,
  FileWriter,
  PutOptions,
  RedirectOptions,
  StorageDriver,
  WalkFn,
  WalkOptions,
  WalkResult,
} from './driver.js';
export { SkipDir, StopWalk } from './driver.js';
export {
  BackendUnavailableError,
  InvalidOffsetError,
  InvalidPathError,
  isPathNotFound,
  PathNotFoundError,
  StorageError,
} from './errors.js';
export { InMemoryDriver, inmemory } from './inmemory.js';
export { mapLimited } from './limit.js';
export { boolOption, parseDriverOptions } from './options.js';
export { basename, checkPath, dirname, isValidPath, joinPath } from './path.js';
export { repeatStream } from './streams.js';
export { walkFlatListing } from './walk.js';
export { ChunkedWriter, FileWriterBase } from './writer.js';
