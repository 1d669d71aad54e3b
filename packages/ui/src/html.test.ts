import { describe, expect, it } from 'vitest';
import { pullCommands, validHost } from './commands.js';
import { clip, href, html } from './html.js';

describe('html', () => {
  it('escapes every value, in text and in attributes, however it is nested', () => {
    const hostile = `"><img src=x onerror=alert(1)>'&`;
    const out = html`<a title="${hostile}">${[hostile, [hostile]]}</a>`.value;
    expect(out).not.toContain('<img');
    expect(out).toBe(
      `<a title="&quot;&gt;&lt;img src=x onerror=alert(1)&gt;&#39;&amp;">${'&quot;&gt;&lt;img src=x onerror=alert(1)&gt;&#39;&amp;'.repeat(2)}</a>`,
    );
    expect(html`${undefined}${null}${false}${0}`.value).toBe('0');
    expect(html`<b>${html`<i>kept</i>`}</b>`.value).toBe('<b><i>kept</i></b>');
  });

  it('clips long values with a note of what was left out', () => {
    expect(clip('short', 10).value).toBe('short');
    const clipped = clip(`${'x'.repeat(1_000_000)}<script>`, 100).value;
    expect(clipped.length).toBeLessThan(300);
    expect(clipped).toContain('999,908 more characters not shown');
  });

  it('builds links from encoded segments, keeping a name’s slashes', () => {
    expect(href('/ui', ['repositories', 'team/app', '_manifests', 'sha256:ab'])).toBe(
      '/ui/repositories/team/app/_manifests/sha256%3Aab',
    );
    expect(href('/ui', [], { q: 'a b&c', last: undefined, page: '' })).toBe('/ui?q=a+b%26c');
    expect(href('/ui', ['repositories', 'javascript:alert(1)'])).toBe(
      '/ui/repositories/javascript%3Aalert(1)',
    );
  });
});

describe('pull commands', () => {
  it('name the host, the image by tag or digest, and plain HTTP where the clients need it said', () => {
    const byTag = pullCommands('reg.example:5000', 'team/app', 'v1', false);
    expect(byTag.map((c) => c.command)).toEqual([
      'docker pull reg.example:5000/team/app:v1',
      'podman pull reg.example:5000/team/app:v1',
      'skopeo copy docker://reg.example:5000/team/app:v1 oci:app:v1',
      'nerdctl pull reg.example:5000/team/app:v1',
    ]);
    const digest = `sha256:${'a'.repeat(64)}`;
    const insecure = pullCommands('127.0.0.1:5000', 'app', digest, true);
    expect(insecure[2]?.command).toBe(
      `skopeo copy --src-tls-verify=false docker://127.0.0.1:5000/app@${digest} oci:app`,
    );
    expect(insecure[1]?.command).toContain('--tls-verify=false');
    expect(insecure[3]?.command).toContain('--insecure-registry');
  });

  it('take only a host name or address with a port from the request', () => {
    expect(validHost('registry.example.org:443')).toBe(true);
    expect(validHost('[::1]:5000')).toBe(true);
    expect(validHost('evil.example;rm -rf /')).toBe(false);
    expect(validHost('a b')).toBe(false);
    expect(validHost(undefined)).toBe(false);
  });
});
