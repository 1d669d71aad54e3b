export { parseDuration } from './config/duration.js';
export {
  applyEnvironment,
  ConfigError,
  ignoredSections,
  loadConfig,
  parseConfig,
  parseConfigText,
  unusedKeys,
} from './config/load.js';
export {
  configSchema,
  failureLimitSchema,
  type LdapUsersConfig,
  ldapUsersSchema,
  type RegistryConfig,
  retentionRuleSchema,
  type StorageConfig,
  storageDriverSection,
} from './config/schema.js';
export { type BlobDescriptor, BlobStore } from './content/blobs.js';
export { compareNames } from './content/catalog.js';
export type { DescriptorJson } from './content/manifest-model.js';
export {
  MAX_MANIFEST_BYTES,
  ManifestService,
  type ManifestValidation,
  type StoredManifest,
} from './content/manifests.js';
export { MediaType } from './content/media-types.js';
export { Registry, type RegistryOptions } from './content/registry.js';
export { type TagPush, TagStore } from './content/tags.js';
export { UploadService } from './content/uploads.js';
export { ERROR_CODES, type ErrorCode, RegistryError } from './errors.js';
export {
  type CollectOptions,
  type CollectResult,
  collectGarbage,
  type GcEvent,
  type RetentionReport,
} from './gc/collector.js';
export {
  LeaseHeldError,
  LeaseLostError,
  type LeaseOptions,
  type LeaseRecord,
  StorageLease,
} from './gc/lease.js';
export { globPattern, type RetentionRule } from './gc/retention.js';
export type { RegistryHttpOptions } from './http/context.js';
export type { EventSink, EventTarget, RegistryEvent } from './http/events.js';
export { registryApi } from './http/plugin.js';
export { ROUTES } from './http/router.js';
export {
  type ScheduledCollectionOptions,
  startScheduledCollection,
  startUploadPurging,
  type UploadPurgingOptions,
} from './maintenance.js';
export { paths, ROOT } from './paths.js';
export { PullThroughCache } from './proxy/cache.js';
export { Upstream, type UpstreamOptions, UpstreamUnavailable } from './proxy/upstream.js';
export {
  Digest,
  type DigestAlgorithm,
  parseName,
  parseReference,
  parseTag,
  type Reference,
} from './reference.js';
