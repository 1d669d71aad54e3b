import type { DriverName } from '@regop/drivers';
import type { CharmConfig } from './options.js';

/** How the charm's storage-* options become the storage section of one driver. */
export interface CharmStorage {
  driver: DriverName;
  /** Whether the options choose this driver. */
  chosen(config: CharmConfig): boolean;
  /** `dataDirectory`: where the unit keeps data on its own disk. */
  parameters(config: CharmConfig, dataDirectory: string): Record<string, unknown>;
}

/** The parameters that are set (config-get sends an unset string option as empty). */
export const defined = (o: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== '' && v !== undefined));

/**
 * The drivers the charm offers, in the order Canonical's charm chooses them: swift when an auth URL is set, s3
 * when a region and bucket are, else the filesystem. Offering another is one entry here and its options in
 * config.yaml.
 */
export const CHARM_STORAGE: readonly CharmStorage[] = [
  {
    driver: 'swift',
    chosen: (config) => config['storage-swift-authurl'] !== '',
    parameters: (config) =>
      defined({
        authurl: config['storage-swift-authurl'],
        username: config['storage-swift-username'],
        password: config['storage-swift-password'],
        region: config['storage-swift-region'],
        container: config['storage-swift-container'],
        tenant: config['storage-swift-tenant'],
        domain: config['storage-swift-domain'],
      }),
  },
  {
    driver: 's3',
    chosen: (config) => config['storage-s3-region'] !== '' && config['storage-s3-bucket'] !== '',
    parameters: (config) =>
      defined({
        accesskey: config['storage-s3-accesskey'],
        secretkey: config['storage-s3-secretkey'],
        region: config['storage-s3-region'],
        regionendpoint: config['storage-s3-regionendpoint'],
        forcepathstyle: config['storage-s3-forcepathstyle'],
        bucket: config['storage-s3-bucket'],
        encrypt: config['storage-s3-encrypt'],
        keyid: config['storage-s3-keyid'],
        secure: config['storage-s3-secure'],
        // Canonical's charm reads these two under other names and never writes objectacl: honoured here.
        skipverify: config['storage-s3-skip-verify'],
        v4auth: !config['storage-s3-skip-v4-auth'],
        chunksize: config['storage-s3-chunksize'],
        multipartcopychunksize: config['storage-s3-multipartcopychunksize'],
        multipartcopymaxconcurrency: config['storage-s3-multipartcopymaxconcurrency'],
        multipartcopythresholdsize: config['storage-s3-multipartcopythresholdsize'],
        rootdirectory: config['storage-s3-rootdirectory'],
        storageclass: config['storage-s3-storageclass'],
        useragent: config['storage-s3-useragent'],
        usedualstack: config['storage-s3-usedualstack'],
        accelerate: config['storage-s3-accelerate'],
        objectacl: config['storage-s3-objectacl'],
        loglevel: config['storage-s3-loglevel'],
      }),
  },
  {
    driver: 'filesystem',
    chosen: () => true,
    parameters: (_config, dataDirectory) => ({ rootdirectory: dataDirectory }),
  },
];

/** The storage the options choose. */
export const charmStorage = (config: CharmConfig): CharmStorage =>
  CHARM_STORAGE.find((s) => s.chosen(config)) as CharmStorage;

/** The driver the options choose. */
export const storageKind = (config: CharmConfig): DriverName => charmStorage(config).driver;
