import { boolOption, parseDriverOptions } from '@regop/storage';
import * as z from 'zod';

const MiB = 1024 * 1024;
/** S3's smallest part (all but the last part of a multipart upload). */
export const MIN_PART = 5 * MiB;

const bool = boolOption;
const int = (fallback: number, min: number, message: string) =>
  z.coerce
    .number()
    .int()
    .min(min, message)
    .optional()
    .transform((v) => v ?? fallback);

/** distribution's s3 driver parameters, with its defaults. */
export const s3OptionsSchema = z.object({
  region: z.string().min(1, 'is required'),
  /** A URL, or a host[:port] whose scheme `secure` decides. */
  regionendpoint: z.string().min(1).optional(),
  bucket: z.string().min(1, 'is required'),
  accesskey: z.string().optional(),
  secretkey: z.string().optional(),
  forcepathstyle: bool(false),
  secure: bool(true),
  skipverify: bool(false),
  /** AWS SDK v3 signs with Signature Version 4 only; false (distribution's v2 signing) is accepted and signs v4. */
  v4auth: bool(true),
  chunksize: int(10 * MiB, MIN_PART, 'must be at least 5 MiB (5242880)'),
  multipartcopychunksize: int(32 * MiB, MIN_PART, 'must be at least 5 MiB (5242880)'),
  multipartcopymaxconcurrency: int(100, 1, 'must be at least 1'),
  multipartcopythresholdsize: int(32 * MiB, 0, 'must not be negative'),
  rootdirectory: z.string().default(''),
  storageclass: z
    .enum(['STANDARD', 'REDUCED_REDUNDANCY', 'STANDARD_IA', 'INTELLIGENT_TIERING', 'NONE'])
    .default('STANDARD'),
  encrypt: bool(false),
  keyid: z.string().optional(),
  objectacl: z.string().default('private'),
  useragent: z.string().optional(),
  usedualstack: bool(false),
  accelerate: bool(false),
  /** The Go SDK's log level in distribution; this driver logs failures through the registry's log. */
  loglevel: z.string().default('off'),
});

export type S3Options = z.output<typeof s3OptionsSchema>;

/** Validates storage.s3 parameters; errors name each key (`storage.s3.chunksize: ...`). */
export function parseS3Options(params: Record<string, unknown>): S3Options {
  return parseDriverOptions('s3', s3OptionsSchema, params);
}
