import * as z from 'zod';

/**
 * A boolean driver parameter: distribution takes them from YAML or REGISTRY_STORAGE_* strings, so both
 * spellings are accepted.
 */
export const boolOption = (fallback: boolean) =>
  z
    .union([z.boolean(), z.enum(['true', 'false'])])
    .optional()
    .transform((v) => (v === undefined ? fallback : v === true || v === 'true'));

/** Validates a driver's parameters; the error names each bad key (`storage.<driver>.<key>: ...`). */
export function parseDriverOptions<S extends z.ZodType>(
  driver: string,
  schema: S,
  params: Record<string, unknown>,
): z.output<S> {
  const result = schema.safeParse(params);
  if (!result.success) {
    const key = (path: PropertyKey[]) => [`storage.${driver}`, ...path.map(String)].join('.');
    throw new Error(
      result.error.issues
        .map((i) =>
          i.code === 'unrecognized_keys'
            ? i.keys.map((k) => `${key([...i.path, k])}: unknown key`).join('\n')
            : `${key(i.path)}: ${i.message}`,
        )
        .join('\n'),
    );
  }
  return result.data;
}
