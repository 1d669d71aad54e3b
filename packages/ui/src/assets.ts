import { createHash } from 'node:crypto';
import { clientMain } from './client.js';

const STYLE = `
:root { color-scheme: light dark; --fg: #1b1f24; --muted: #5b6470; --line: #d8dde3; --bg: #fff; --soft: #f4f6f8;
  --accent: #0b61c4; --warn: #9a5b00; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e8eb; --muted: #9aa4b0; --line: #343b44; --bg: #15181c;
  --soft: #1d2127; --accent: #6aa8ff; --warn: #e0a040; } }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: var(--bg); font-size: 15px; line-height: 1.45; }
header, main, footer { max-width: 1100px; margin: 0 auto; padding: 0 16px; }
header { display: flex; align-items: baseline; gap: 16px; padding-top: 14px; padding-bottom: 10px;
  border-bottom: 1px solid var(--line); flex-wrap: wrap; }
header .title { font-weight: 600; font-size: 18px; color: var(--fg); text-decoration: none; }
header .who { margin-left: auto; color: var(--muted); font-size: 13px; }
header form { display: inline; }
nav.crumbs { color: var(--muted); margin: 14px 0 4px; overflow-wrap: anywhere; }
h1 { font-size: 22px; margin: 6px 0 14px; overflow-wrap: anywhere; }
h2 { font-size: 17px; margin: 26px 0 8px; }
a { color: var(--accent); }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top;
  overflow-wrap: anywhere; }
th { font-size: 13px; color: var(--muted); font-weight: 600; }
td.num { text-align: right; white-space: nowrap; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
pre { background: var(--soft); border: 1px solid var(--line); padding: 10px; overflow: auto; max-height: 480px;
  white-space: pre-wrap; overflow-wrap: anywhere; margin: 4px 0; }
.muted, .clipped, .note { color: var(--muted); }
.note { font-size: 13px; }
.badge { display: inline-block; font-size: 12px; padding: 1px 7px; border-radius: 9px; background: var(--soft);
  border: 1px solid var(--line); margin: 0 4px 2px 0; white-space: nowrap; }
.badge.signed { border-color: var(--accent); }
.warn { color: var(--warn); }
form.filter { display: flex; gap: 8px; margin: 8px 0; }
input[type=search], input[type=text], input[type=password] { padding: 6px 8px; border: 1px solid var(--line);
  border-radius: 4px; background: var(--bg); color: var(--fg); min-width: 260px; font: inherit; }
button { font: inherit; padding: 5px 12px; border-radius: 4px; border: 1px solid var(--line); background: var(--soft);
  color: var(--fg); cursor: pointer; }
.pager { display: flex; gap: 16px; margin: 10px 0 20px; }
.commands div { display: flex; gap: 8px; align-items: flex-start; }
.commands pre { flex: 1; max-height: none; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 8px 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.signin { max-width: 360px; display: grid; gap: 10px; margin: 16px 0; }
footer { color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); margin-top: 30px;
  padding-top: 10px; padding-bottom: 20px; }
:target { background: var(--soft); }
`;

/** A box of layers: the page's icon, so browsers do not ask for a /favicon.ico the registry does not have. */
const ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><path fill="#0b61c4" d="M2 3h12v3H2zM2 7h12v3H2zM2 11h12v3H2z"/></svg>`;

export interface Asset {
  /** The content-hashed name it is served under, e.g. ui.3f2a9c01b7d4.css. */
  name: string;
  type: string;
  body: Buffer;
  etag: string;
}

function asset(base: string, extension: string, type: string, text: string): Asset {
  const body = Buffer.from(text);
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 16);
  return { name: `${base}.${hash}.${extension}`, type, body, etag: `"${hash}"` };
}

/** The stylesheet and the script, built with the program and named by their content, so they cache for good. */
export const ASSETS = {
  style: asset('ui', 'css', 'text/css; charset=utf-8', STYLE),
  icon: asset('ui', 'svg', 'image/svg+xml', ICON),
  script: asset('ui', 'js', 'text/javascript; charset=utf-8', `(${clientMain.toString()})();\n`),
};
