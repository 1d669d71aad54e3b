import { pullCommands } from '../commands.js';
import type { ConfigView, Descriptor, ManifestDetail, ReferrerGroup } from '../content.js';
import { bytes, platformName, shortDigest, when } from '../format.js';
import { clip, type Html, href, html, type Part } from '../html.js';
import { commandsBlock } from './lists.js';

/** Bounds on what one page writes: a value, a list of entries, the raw manifest. */
export const LIMITS = { value: 2_000, entries: 200, history: 500, raw: 256 * 1024, annotations: 30 };

export interface ImageView {
  root: string;
  name: string;
  /** The tag or digest the page was asked for. */
  reference: string;
  detail: ManifestDetail;
  referrers: { groups: ReferrerGroup[]; total: number; more: boolean; unreadable?: string };
  host: string;
  insecure: boolean;
}

const manifestHref = (root: string, name: string, reference: string) =>
  href(root, ['repositories', name, '_manifests', reference]);

/** Rows of key and value, at most LIMITS.entries of them, each value clipped. */
function pairs(entries: [string, Part][], what: string): Html {
  const shown = entries.slice(0, LIMITS.entries);
  return html`<dl class="facts">${shown.map(([k, v]) => html`<dt>${typeof k === 'string' ? clip(k, 200) : k}</dt><dd>${typeof v === 'string' ? clip(v, LIMITS.value) : v}</dd>`)}</dl>${
    entries.length > shown.length
      ? html`<p class="note">${entries.length - shown.length} more ${what} not shown.</p>`
      : ''
  }`;
}

const list = (values: string[] | null | undefined) => (values?.length ? values.join(' ') : undefined);

function configSection(config: NonNullable<ManifestDetail['config']>, layers: Descriptor[]): Html {
  if (config.missing) return html`<p class="warn">The image's config is not stored in this repository.</p>`;
  if (!config.parsed)
    return html`<p class="warn">The image's config is ${bytes(config.size)}, too large to show here.</p>`;
  if (!config.parsed.ok) return html`<p class="warn">${clip(config.parsed.problem, LIMITS.value)}</p>`;
  const c: ConfigView = config.parsed.value;
  const run = c.config ?? {};
  const facts: [string, Part][] = [
    ['Created', when(c.created ? new Date(c.created) : undefined) || c.created],
    ['Platform', platformName(c)],
    ['Author', c.author],
    ['User', run.User],
    ['Entrypoint', list(run.Entrypoint)],
    ['Command', list(run.Cmd)],
    ['Working directory', run.WorkingDir],
    ['Exposed ports', run.ExposedPorts ? Object.keys(run.ExposedPorts).join(' ') : undefined],
  ];
  const shown = facts.filter((f): f is [string, Part] => f[1] !== undefined && f[1] !== '');
  const env = run.Env ?? [];
  const labels = Object.entries(run.Labels ?? {});
  const history = c.history ?? [];
  let layer = 0;
  const steps = history.slice(0, LIMITS.history).map((h) => {
    const index = h.empty_layer ? undefined : layer++;
    const size = index === undefined ? undefined : layers[index]?.size;
    return html`<tr><td class="mono">${clip(h.created_by ?? h.comment ?? '', LIMITS.value)}</td>
<td class="num">${index === undefined ? html`<span class="muted">no layer</span>` : size === undefined ? html`<span class="warn">layer ${index + 1} is not in the manifest</span>` : html`<a href="#layer-${index + 1}">${bytes(size)}</a>`}</td>
<td>${when(h.created ? new Date(h.created) : undefined)}</td></tr>`;
  });
  return html`${pairs(shown, 'facts')}
${
  env.length
    ? html`<h2>Environment</h2>${pairs(
        env.map((e) => {
          const eq = e.indexOf('=');
          return [eq < 0 ? e : e.slice(0, eq), eq < 0 ? '' : e.slice(eq + 1)];
        }),
        'variables',
      )}`
    : ''
}
${labels.length ? html`<h2>Labels</h2>${pairs(labels, 'labels')}` : ''}
${
  history.length
    ? html`<h2>History</h2><table class="history"><thead><tr><th>Step</th><th class="num">Layer</th><th>Created</th></tr></thead>
<tbody>${steps}</tbody></table>${history.length > LIMITS.history ? html`<p class="note">${(history.length - LIMITS.history).toLocaleString('en')} more steps not shown.</p>` : ''}`
    : ''
}`;
}

function layersSection(v: ImageView, layers: Descriptor[]): Html {
  const shown = layers.slice(0, LIMITS.entries);
  return html`<h2>Layers <span class="muted">(${layers.length})</span></h2>
<table class="layers"><thead><tr><th>#</th><th>Digest</th><th>Media type</th><th class="num">Size</th></tr></thead>
<tbody>${shown.map(
    (l, i) => html`<tr id="layer-${i + 1}"><td>${i + 1}</td>
<td class="mono"><a href="${href(v.root, ['repositories', v.name, '_blobs', l.digest])}" download title="${l.digest}">${shortDigest(l.digest)}</a></td>
<td class="mono">${clip(l.mediaType ?? '', 200)}</td><td class="num">${bytes(l.size)}</td></tr>`,
  )}</tbody></table>${layers.length > shown.length ? html`<p class="note">${layers.length - shown.length} more layers not shown.</p>` : ''}`;
}

function platformsSection(v: ImageView, children: Descriptor[]): Html {
  const shown = children.slice(0, LIMITS.entries);
  return html`<h2>Platforms <span class="muted">(${children.length})</span></h2>
<table class="platforms"><thead><tr><th>Platform</th><th>Digest</th><th>Media type</th><th class="num">Manifest</th></tr></thead>
<tbody>${shown.map(
    (
      d,
    ) => html`<tr><td><a href="${manifestHref(v.root, v.name, d.digest)}">${clip(platformName(d.platform) || d.artifactType || 'unnamed', 200)}</a>${d.annotations?.['vnd.docker.reference.type'] ? html` <span class="badge">${clip(d.annotations['vnd.docker.reference.type'], 60)}</span>` : ''}</td>
<td class="mono">${shortDigest(d.digest)}</td><td class="mono">${clip(d.mediaType ?? '', 200)}</td><td class="num">${bytes(d.size)}</td></tr>`,
  )}</tbody></table>${children.length > shown.length ? html`<p class="note">${children.length - shown.length} more not shown.</p>` : ''}`;
}

/** Artifact types that mean a signature, so the page says at once that the image is signed. */
const SIGNATURE = /signature|cosign|notation|\.sig\b/i;

function referrersSection(v: ImageView): Html {
  const { groups, total, more, unreadable } = v.referrers;
  const problem = unreadable
    ? html`<p class="warn">Some referrers could not be read: ${clip(unreadable, 300)}</p>`
    : '';
  if (total === 0)
    return html`<h2>Referrers</h2>${problem}<p class="muted">No signature, SBOM or attestation refers to this manifest.</p>`;
  return html`<h2>Referrers <span class="muted">(${total}${more ? '+' : ''})</span></h2>${problem}
${groups.map(
  (
    g,
  ) => html`<h3 class="mono">${SIGNATURE.test(g.artifactType) ? html`<span class="badge signed">signed</span> ` : ''}${clip(g.artifactType, 300)}</h3>
<table class="referrers"><thead><tr><th>Digest</th><th>Annotations</th><th class="num">Size</th></tr></thead>
<tbody>${g.referrers.map(
    (
      r,
    ) => html`<tr><td class="mono"><a href="${manifestHref(v.root, v.name, r.digest)}">${shortDigest(r.digest)}</a></td>
<td>${annotations(r.annotations)}</td><td class="num">${bytes(r.size)}</td></tr>`,
  )}</tbody></table>`,
)}${more ? html`<p class="note">Only the first ${total} are listed.</p>` : ''}`;
}

function annotations(values: Record<string, string> | undefined): Html {
  const entries = Object.entries(values ?? {});
  if (!entries.length) return html`<span class="muted">none</span>`;
  const shown = entries.slice(0, LIMITS.annotations);
  return html`${shown.map(([k, val]) => html`<div><span class="muted">${clip(k, 200)}</span> ${clip(val, 500)}</div>`)}${entries.length > shown.length ? html`<div class="note">${entries.length - shown.length} more</div>` : ''}`;
}

function rawManifest(raw: Buffer): string {
  try {
    return JSON.stringify(JSON.parse(raw.toString('utf8')), null, 2);
  } catch {
    return raw.toString('utf8');
  }
}

export function imageBody(v: ImageView): Html {
  const { detail } = v;
  const m = detail.manifest.ok ? detail.manifest.value : undefined;
  const facts: [string, Part][] = [
    ['Digest', html`<span class="mono">${detail.digest}</span>`],
    ['Media type', html`<span class="mono">${detail.mediaType}</span>`],
    ['Manifest size', bytes(detail.size)],
  ];
  if (m?.artifactType)
    facts.push(['Artifact type', html`<span class="mono">${clip(m.artifactType, 300)}</span>`]);
  if (m?.layers && m.config)
    facts.push(['Compressed size', bytes(m.config.size + m.layers.reduce((n, l) => n + l.size, 0))]);
  if (m?.subject)
    facts.push([
      'Refers to',
      html`<a class="mono" href="${manifestHref(v.root, v.name, m.subject.digest)}">${shortDigest(m.subject.digest)}</a>`,
    ]);
  const raw = rawManifest(detail.raw);
  return html`<h2>Pull</h2>${commandsBlock(pullCommands(v.host, v.name, v.reference, v.insecure), v.insecure, 'pull')}
<h2>Manifest</h2>${pairs(facts, 'facts')}
${detail.manifest.ok ? '' : html`<p class="warn">${clip(detail.manifest.problem, LIMITS.value)}</p>`}
${m?.manifests ? platformsSection(v, m.manifests) : ''}
${detail.config ? html`<h2>Image</h2>${configSection(detail.config, m?.layers ?? [])}` : ''}
${m?.layers ? layersSection(v, m.layers) : ''}
${m?.annotations ? html`<h2>Annotations</h2>${pairs(Object.entries(m.annotations), 'annotations')}` : ''}
${referrersSection(v)}
<h2>Raw manifest</h2>
<div class="commands"><div><pre id="raw-manifest">${clip(raw, LIMITS.raw)}</pre><button type="button" hidden data-copy="raw-manifest" aria-label="Copy the manifest">Copy</button></div></div>`;
}
