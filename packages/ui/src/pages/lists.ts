import { type PullCommand, pullCommands } from '../commands.js';
import type { RepositoryRow, TagRow } from '../content.js';
import { bytes, shortDigest, when } from '../format.js';
import { clip, type Html, href, html } from '../html.js';

/** Names, tags and digests are short by grammar; these bound what a page writes of anything longer. */
export const MAX_NAME_SHOWN = 300;

export function repositoriesBody(
  root: string,
  rows: RepositoryRow[],
  q: string,
  next: string | undefined,
): Html {
  return html`<form class="filter" method="get" action="${root}" role="search">
<input type="search" name="q" value="${q}" placeholder="Search repositories" aria-label="Search repositories" maxlength="255">
<button type="submit">Search</button>${q ? html` <a href="${root}">clear</a>` : ''}
</form>
${
  rows.length === 0
    ? html`<p class="muted">${q ? 'No repository you may pull matches.' : 'No repository you may pull.'}</p>`
    : html`<table class="repositories">
<thead><tr><th>Repository</th><th class="num">Tags</th><th>Last push</th></tr></thead>
<tbody>${rows.map(
        (
          r,
        ) => html`<tr><td><a href="${href(root, ['repositories', r.name])}">${clip(r.name, MAX_NAME_SHOWN)}</a></td>
<td class="num">${r.tags.toLocaleString('en')}</td><td>${when(r.pushed)}</td></tr>`,
      )}</tbody></table>`
}
${next ? html`<nav class="pager"><a rel="next" href="${href(root, [], { q, last: next })}">Next →</a></nav>` : ''}`;
}

export function commandsBlock(commands: PullCommand[], insecure: boolean, id: string): Html {
  return html`<div class="commands">${commands.map(
    (c) =>
      html`<div><pre id="${id}-${c.client}">${c.command}</pre><button type="button" hidden data-copy="${id}-${c.client}" aria-label="Copy the ${c.client} command">Copy</button></div>`,
  )}</div>${insecure ? html`<p class="note">This registry is served over plain HTTP: docker needs its address in the daemon's <code>insecure-registries</code> (127.0.0.0/8 excepted).</p>` : ''}`;
}

export interface RepositoryView {
  root: string;
  name: string;
  rows: TagRow[];
  total: number;
  matching: number;
  q: string;
  page: number;
  pageSize: number;
  host: string;
  insecure: boolean;
}

export function repositoryBody(v: RepositoryView): Html {
  const link = (page: number) =>
    href(v.root, ['repositories', v.name], { q: v.q, page: page > 1 ? `${page}` : undefined });
  const pages = Math.max(1, Math.ceil(v.matching / v.pageSize));
  const newest = v.rows[0]?.tag;
  return html`${
    newest
      ? html`<h2>Pull</h2>${commandsBlock(pullCommands(v.host, v.name, newest, v.insecure), v.insecure, 'pull')}`
      : ''
  }
<h2>Tags <span class="muted">(${v.total.toLocaleString('en')})</span></h2>
<form class="filter" method="get" action="${href(v.root, ['repositories', v.name])}" role="search">
<input type="search" name="q" value="${v.q}" placeholder="Filter tags" aria-label="Filter tags" maxlength="128">
<button type="submit">Filter</button>${v.q ? html` <a href="${href(v.root, ['repositories', v.name])}">clear</a>` : ''}
</form>
${
  v.rows.length === 0
    ? html`<p class="muted">${v.q ? 'No tag matches.' : 'No tags.'}</p>`
    : html`<table class="tags">
<thead><tr><th>Tag</th><th>Digest</th><th>Type</th><th class="num">Size</th><th>Pushed</th></tr></thead>
<tbody>${v.rows.map((r) => tagRow(v.root, v.name, r))}</tbody></table>`
}
${
  pages > 1
    ? html`<nav class="pager">${v.page > 1 ? html`<a rel="prev" href="${link(v.page - 1)}">← Previous</a>` : ''}
<span class="muted">page ${v.page} of ${pages}</span>${v.page < pages ? html`<a rel="next" href="${link(v.page + 1)}">Next →</a>` : ''}</nav>`
    : ''
}`;
}

function tagRow(root: string, name: string, r: TagRow): Html {
  const s = r.summary;
  const kind = !s
    ? html`<span class="warn">unreadable</span>`
    : s.kind === 'index'
      ? html`index ${s.platforms.map((p) => html`<span class="badge">${clip(p, 60)}</span>`)}`
      : s.kind === 'artifact'
        ? html`artifact <span class="badge">${clip(s.artifactType ?? '', 100)}</span>`
        : s.kind;
  return html`<tr><td><a href="${href(root, ['repositories', name, '_manifests', r.tag])}">${r.tag}</a></td>
<td class="mono">${r.digest ? shortDigest(r.digest) : ''}</td><td>${kind}</td>
<td class="num">${s ? html`${bytes(s.size)}${s.partial ? html`<span class="note" title="not every platform is stored here"> +</span>` : ''}` : ''}</td>
<td>${when(r.pushed)}</td></tr>`;
}
