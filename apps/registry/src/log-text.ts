/**
 * distribution's `log.formatter: text` (logrus's text formatter): `time="…" level=info msg="…" key=value`, one
 * line per entry, nested fields as dotted keys. pino writes JSON lines; this rewrites each on its way out.
 */
export function textFormatter(dest: { write(chunk: string): unknown }): { write(line: string): void } {
  return {
    write(line: string) {
      dest.write(`${toText(JSON.parse(line) as Record<string, unknown>)}\n`);
    },
  };
}

const plain = /^[\w./:@+-]+$/;
const value = (v: unknown) => {
  const text = typeof v === 'string' ? v : JSON.stringify(v);
  return plain.test(text) ? text : JSON.stringify(text);
};

function flatten(fields: Record<string, unknown>, prefix: string, out: string[]): void {
  for (const [key, v] of Object.entries(fields)) {
    if (v && typeof v === 'object' && !Array.isArray(v))
      flatten(v as Record<string, unknown>, `${prefix}${key}.`, out);
    else if (v !== undefined) out.push(`${prefix}${key}=${value(v)}`);
  }
}

export function toText(entry: Record<string, unknown>): string {
  const { time, level, msg, ...fields } = entry;
  const out = [`time="${String(time)}"`, `level=${level}`, `msg=${JSON.stringify(msg ?? '')}`];
  flatten(fields, '', out);
  return out.join(' ');
}
