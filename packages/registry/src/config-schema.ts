/**
 * The config's schema pieces others validate with (the charm checks its retention-rules option), without
 * loading the engine: `@regop/registry/config-schema`.
 */
export { parseDuration } from './config/duration.js';

import * as z from 'zod';
import { retentionRuleSchema } from './config/schema.js';

/** The retention rules of storage.maintenance.garbagecollect: durations as text in, milliseconds out. */
export const retentionRulesSchema = z.array(retentionRuleSchema);
