/**
 * HTML built by one tagged template that escapes every value it is given, so a page cannot forget to: names,
 * tags, labels and annotations are chosen by whoever pushed, and every one of them reaches a page through `html`.
 * Values are always written inside quoted attributes or as text, never as URLs of their own choosing (links are
 * built by `href` from path segments this code encodes).
 */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

export type Part = Html | string | number | undefined | null | false | readonly Part[];

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c] as string);

function render(part: Part): string {
  if (part === undefined || part === null || part === false) return '';
  if (part instanceof Html) return part.value;
  if (Array.isArray(part)) return part.map(render).join('');
  return escapeHtml(String(part));
}

export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0] as string;
  for (let i = 0; i < values.length; i++) out += render(values[i] as Part) + strings[i + 1];
  return new Html(out);
}

/** A path below the UI's root from segments, each percent-encoded (a repository name keeps its slashes). */
export function href(
  root: string,
  segments: readonly string[],
  query: Record<string, string | undefined> = {},
) {
  const path = segments.map((s) => s.split('/').map(encodeURIComponent).join('/')).join('/');
  const params = new URLSearchParams(
    Object.entries(query).filter(
      (entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== '',
    ),
  ).toString();
  return `${root}${path ? `/${path}` : ''}${params ? `?${params}` : ''}`;
}

/**
 * At most `max` characters of a value, and a note of how much was left out: a 1 MB label or a history of ten
 * thousand steps is pushed by someone, and a page shows a screenful of it.
 */
export function clip(text: string, max: number): Html {
  if (text.length <= max) return html`${text}`;
  return html`${text.slice(0, max)}<span class="clipped"> … ${(text.length - max).toLocaleString('en')} more characters not shown</span>`;
}
