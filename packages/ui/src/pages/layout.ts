import { ASSETS } from '../assets.js';
import { type Html, html, type Part } from '../html.js';

/** The status line every page ends with: what is serving, never its credentials or paths. */
export interface UiStatus {
  version: string;
  readOnly: boolean;
  /** The storage driver's name. */
  storage: string;
  /** A pull-through cache: the upstream's URL (the pages show what is cached). */
  proxyOf?: string;
}

export interface Frame {
  /** The UI's path, e.g. /ui. */
  root: string;
  title: string;
  status: UiStatus;
  /** The signed-in user, if any; with token sign-in, whether to offer sign-in or sign-out. */
  user?: string;
  session?: 'signed-in' | 'anonymous';
  /** The page's own path and query (where sign-in returns to). */
  here: string;
  crumbs: { label: string; href?: string }[];
  heading: Part;
  /** The window title's first part. */
  pageTitle: string;
  body: Part;
}

export function page(frame: Frame): string {
  const { root, status } = frame;
  const account =
    frame.session === 'signed-in'
      ? html`<span class="who">signed in as ${frame.user ?? 'you'}
          <form method="post" action="${root}/sign-out"><button type="submit">Sign out</button></form></span>`
      : frame.session === 'anonymous'
        ? html`<span class="who"><a href="${root}/sign-in?${new URLSearchParams({ next: frame.here }).toString()}">Sign in</a></span>`
        : frame.user
          ? html`<span class="who">${frame.user}</span>`
          : '';
  const body: Html = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${frame.pageTitle} · ${frame.title}</title>
<link rel="icon" href="${root}/assets/${ASSETS.icon.name}" type="image/svg+xml">
<link rel="stylesheet" href="${root}/assets/${ASSETS.style.name}">
<script defer src="${root}/assets/${ASSETS.script.name}"></script>
</head>
<body>
<header><a class="title" href="${root}">${frame.title}</a>${account}</header>
<main>
<nav class="crumbs" aria-label="breadcrumbs">${frame.crumbs.map((c, i) => html`${i > 0 ? ' / ' : ''}${c.href ? html`<a href="${c.href}">${c.label}</a>` : c.label}`)}</nav>
<h1>${frame.heading}</h1>
${status.proxyOf ? html`<p class="note">A pull-through cache of <span class="mono">${status.proxyOf}</span>: this shows what is cached here; pulling fetches the rest.</p>` : ''}
${frame.body}
</main>
<footer>regop ${status.version} · ${status.readOnly ? 'read-only' : 'read-write'} · storage: ${status.storage}${status.proxyOf ? ' · pull-through cache' : ''}</footer>
</body>
</html>
`;
  return body.value;
}

export const pager = (previous: string | undefined, next: string | undefined): Html =>
  previous || next
    ? html`<nav class="pager">${previous ? html`<a href="${previous}" rel="prev">← Previous</a>` : ''}${next ? html`<a href="${next}" rel="next">Next →</a>` : ''}</nav>`
    : html``;
