/** Sizes as people read them: 1,023 B, 4.2 KiB, 31.5 MiB. */
export function bytes(n: number): string {
  if (n < 1024) return `${n.toLocaleString('en')} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** A time in UTC to the minute, the same for every reader whatever their zone. */
export function when(date: Date | undefined): string {
  if (!date || Number.isNaN(date.getTime())) return '';
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** The first 12 hex digits, as `docker images` shows a digest. */
export const shortDigest = (digest: string) => {
  const [algorithm, hex = ''] = digest.split(':');
  return `${algorithm}:${hex.slice(0, 12)}`;
};

export const platformName = (p: { os?: string; architecture?: string; variant?: string } | undefined) =>
  p ? [p.os, p.architecture, p.variant].filter(Boolean).join('/') : '';
