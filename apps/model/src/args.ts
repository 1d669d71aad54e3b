/** Command-line helpers of `model`: usage errors, flags and `key=value` pairs typed as Juju types them. */

/** A mistake in how the command was called: exit status 2, the message said on one line. */
export class UsageError extends Error {}

/** A `key=value` argument typed by its option's declared type, as juju config does. */
export function typed(name: string, value: string, spec: { type?: string } | undefined): unknown {
  if (!spec) throw new UsageError(`unknown option "${name}"`);
  switch (spec.type) {
    case 'boolean':
      if (value !== 'true' && value !== 'false')
        throw new UsageError(`option "${name}" expected boolean, got "${value}"`);
      return value === 'true';
    case 'int':
    case 'integer':
      if (!/^-?\d+$/.test(value)) throw new UsageError(`option "${name}" expected int, got "${value}"`);
      return Number(value);
    case 'float':
    case 'number':
      if (Number.isNaN(Number(value)))
        throw new UsageError(`option "${name}" expected number, got "${value}"`);
      return Number(value);
    default:
      return value;
  }
}

export const splitPair = (pair: string) => {
  const eq = pair.indexOf('=');
  if (eq < 1) throw new UsageError(`expected key=value, got "${pair}"`);
  return [pair.slice(0, eq), pair.slice(eq + 1)] as const;
};

/** Removes `flag VALUE` from args; the value, or undefined when the flag is absent. */
export function takeFlag(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  if (i < 0) return undefined;
  const [, value] = args.splice(i, 2);
  if (value === undefined) throw new UsageError(`${flag} needs a value`);
  return value;
}
