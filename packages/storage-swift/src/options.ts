import { boolOption, parseDriverOptions } from '@regop/storage';
import * as z from 'zod';

const MiB = 1024 * 1024;
/** distribution's smallest segment. */
export const MIN_SEGMENT = MiB;

const bool = boolOption;

/** distribution's swift driver parameters, with its defaults. */
export const swiftOptionsSchema = z.object({
  authurl: z
    .string()
    .url('must be the URL of the auth endpoint (tempauth /auth/v1.0, Keystone /v2.0 or /v3)'),
  username: z.string().min(1, 'is required'),
  password: z.string().min(1, 'is required'),
  container: z.string().min(1, 'is required'),
  /** 1 (tempauth), 2 or 3 (Keystone); guessed from the authurl when absent, as distribution does. */
  authversion: z.coerce.number().int().min(1).max(3).optional(),
  region: z.string().optional(),
  tenant: z.string().optional(),
  tenantid: z.string().optional(),
  domain: z.string().optional(),
  domainid: z.string().optional(),
  tenantdomain: z.string().optional(),
  tenantdomainid: z.string().optional(),
  trustid: z.string().optional(),
  endpointtype: z.enum(['public', 'internal', 'admin']).default('public'),
  insecureskipverify: bool(false),
  chunksize: z.coerce
    .number()
    .int()
    .min(MIN_SEGMENT, 'must be at least 1 MiB (1048576)')
    .default(20 * MiB),
  prefix: z.string().default(''),
  /** The temp URL key; without it one is read from the container, or made and stored there. */
  secretkey: z.string().optional(),
  /** HP Cloud's temp URL signatures carry the tenant and access key. */
  accesskey: z.string().optional(),
  /** Methods temp URLs may be made for when the cluster does not publish /info. */
  tempurlmethods: z
    .union([z.array(z.string()), z.string().transform((s) => s.split(/[\s,]+/).filter(Boolean))])
    .optional(),
  tempurlcontainerkey: bool(true),
});

export type SwiftOptions = z.output<typeof swiftOptionsSchema>;

/** Validates storage.swift parameters; errors name each key (`storage.swift.chunksize: ...`). */
export function parseSwiftOptions(params: Record<string, unknown>): SwiftOptions {
  return parseDriverOptions('swift', swiftOptionsSchema, params);
}

/** The auth protocol: `authversion`, else from the URL (`/v3`, `/v2.0`), else tempauth. */
export function authVersion(options: SwiftOptions): 1 | 2 | 3 {
  if (options.authversion) return options.authversion as 1 | 2 | 3;
  const path = new URL(options.authurl).pathname;
  if (/\/v3(\/|$)/.test(path)) return 3;
  if (/\/v2(\.0)?(\/|$)/.test(path)) return 2;
  return 1;
}
