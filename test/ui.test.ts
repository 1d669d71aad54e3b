import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Server, stopAll } from '@regop/peers';
import { mapLimited } from '@regop/storage';
import { execa } from 'execa';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pushBlob, pushImage, sha256 } from './support/http.js';
import { insecure, makeMultiArchLayout, makeOciImage, ociManifestDigest, skopeo } from './support/images.js';
import { describeWithPeers } from './support/peers.js';
import { REPO_ROOT, startOurRegistry, startTokenServer } from './support/registries.js';

/** Debian's chromium, driven without a browser download; flags keep it from reaching for the network. */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** Screenshots of every page the test visits, for a person to look at. */
const SHOTS = join(REPO_ROOT, 'test/output/ui');
const HOSTILE = {
  script: '<script>alert("label")</script>',
  img: '"><img src=x onerror="alert(1);document.title=\'pwned\'">',
  url: 'javascript:alert(document.domain)',
};
const SIGNATURE_TYPE = 'application/vnd.dev.cosign.artifact.sig.v1+json';
const SBOM_TYPE = 'application/spdx+json';

let dir: string;
let root: string;
let open: Server;
let host: string;
let browser: Browser;
let appDigest: string;
let armDigest: string;
/** Console errors, uncaught exceptions and dialogs of every page: each fails the test that caused it. */
const problems: string[] = [];

async function watched(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  page.on('console', (m) => {
    // A page's own 401 or 403 is logged as a failed load; the test asserts those statuses itself.
    const ownStatus = m.text().startsWith('Failed to load resource') && m.location().url === page.url();
    if (m.type() === 'error' && !ownStatus) problems.push(`console: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => problems.push(`exception: ${e.message} (${page.url()})`));
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()} (${page.url()})`);
    void d.dismiss();
  });
  return page;
}

const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

/** A manifest whose subject is `subject`: what cosign (a signature) and oras (an SBOM) push. */
async function pushReferrer(
  repo: string,
  subject: string,
  artifactType: string,
  layer: { mediaType: string; content: Buffer; annotations?: Record<string, string> },
  annotations: Record<string, string>,
): Promise<string> {
  const empty = Buffer.from('{}');
  for (const blob of [empty, layer.content]) expect((await pushBlob(open.url, repo, blob)).status).toBe(201);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2 },
      layers: [
        {
          mediaType: layer.mediaType,
          digest: sha256(layer.content),
          size: layer.content.length,
          ...(layer.annotations && { annotations: layer.annotations }),
        },
      ],
      subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: subject, size: 1 },
      annotations,
    }),
  );
  const digest = sha256(manifest);
  const res = await fetch(`${open.url}/v2/${repo}/manifests/${digest}`, {
    method: 'PUT',
    body: manifest,
    headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
  });
  expect(res.status).toBe(201);
  return digest;
}

/** An image whose config carries hostile labels and history, and a 1 MB label; its manifest hostile annotations. */
async function pushHostileImage(): Promise<void> {
  const layer = Buffer.from('hostile layer');
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {
        Labels: { ...HOSTILE, [HOSTILE.img]: HOSTILE.url, huge: 'x'.repeat(1024 * 1024) },
        Env: [`PATH=${HOSTILE.script}`],
        Cmd: [HOSTILE.img],
      },
      history: [{ created_by: HOSTILE.script }, { created_by: HOSTILE.url }],
      rootfs: { type: 'layers', diff_ids: [sha256(layer)] },
    }),
  );
  for (const blob of [config, layer]) expect((await pushBlob(open.url, 'evil/app', blob)).status).toBe(201);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(config),
        size: config.length,
      },
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length },
      ],
      annotations: { 'org.opencontainers.image.source': HOSTILE.url, [HOSTILE.script]: HOSTILE.img },
    }),
  );
  const res = await fetch(`${open.url}/v2/evil/app/manifests/latest`, {
    method: 'PUT',
    body: manifest,
    headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
  });
  expect(res.status).toBe(201);
  await pushReferrer(
    'evil/app',
    sha256(manifest),
    `application/vnd.${HOSTILE.img}`,
    { mediaType: 'text/plain', content: Buffer.from('x') },
    { [HOSTILE.url]: HOSTILE.script },
  );
}

/** A repository of 2,000 tags: one image, tagged over and over as a CI that tags every build does. */
async function pushManyTags(): Promise<void> {
  await pushImage(open.url, 'big/tags', 't0000', [Buffer.from('one layer')]);
  const manifest = Buffer.from(
    await (
      await fetch(`${open.url}/v2/big/tags/manifests/t0000`, {
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      })
    ).arrayBuffer(),
  );
  await mapLimited(
    Array.from({ length: 1999 }, (_, i) => `t${String(i + 1).padStart(4, '0')}`),
    async (tag) => {
      const res = await fetch(`${open.url}/v2/big/tags/manifests/${tag}`, {
        method: 'PUT',
        body: manifest,
        headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      });
      expect(res.status).toBe(201);
    },
    16,
  );
}

describeWithPeers(['skopeo', 'umoci', 'htpasswd', CHROMIUM], 'the web UI in a real browser', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'regop-ui-'));
    await mkdir(SHOTS, { recursive: true });
    root = join(dir, 'data');
    open = await startOurRegistry({
      root,
      dir: join(dir, 'open'),
      extra: { ui: { enabled: true, title: 'Team registry' } },
    });
    host = new URL(open.url).host;
    const multi = await makeMultiArchLayout(dir, '1.0', ['amd64', 'arm64']);
    armDigest = multi.children.arm64 as string;
    await skopeo(
      'copy',
      '--all',
      ...insecure,
      `oci:${multi.layout}:1.0`,
      `docker://${host}/library/multi:1.0`,
    );
    const app = await makeOciImage(join(dir, 'app'), 'v1', [32 * 1024, 8 * 1024]);
    appDigest = await ociManifestDigest(app, 'v1');
    await skopeo('copy', ...insecure, `oci:${app}:v1`, `docker://${host}/team/app:v1`);
    await skopeo('copy', ...insecure, `oci:${app}:v1`, `docker://${host}/team/tools:v1`);
    await pushReferrer(
      'team/app',
      appDigest,
      SIGNATURE_TYPE,
      {
        mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
        content: Buffer.from(
          JSON.stringify({ critical: { image: { 'docker-manifest-digest': appDigest } } }),
        ),
        annotations: { 'dev.cosignproject.cosign/signature': 'MEUCIQDsignature' },
      },
      { 'org.opencontainers.image.created': '2026-12-07T00:00:00Z' },
    );
    await pushReferrer(
      'team/app',
      appDigest,
      SBOM_TYPE,
      {
        mediaType: SBOM_TYPE,
        content: Buffer.from(JSON.stringify({ spdxVersion: 'SPDX-2.3', packages: [] })),
      },
      { 'org.example.sbom.tool': 'syft' },
    );
    await pushHostileImage();
    await pushManyTags();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });
  afterAll(async () => {
    await browser?.close();
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  });

  it('navigates list, search, repository, tag, platform, layer and referrers by clicking', async () => {
    problems.length = 0;
    const context = await browser.newContext();
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: open.url });
    const page = await watched(context);

    // A browser asking the root is sent to the UI.
    await page.goto(`${open.url}/`);
    expect(new URL(page.url()).pathname).toBe('/ui');
    await expect
      .poll(() => page.locator('table.repositories a').allTextContents())
      .toContain('library/multi');
    expect(await page.locator('footer').textContent()).toMatch(
      /regop \S+ · read-write · storage: filesystem/,
    );
    await shot(page, '01-repositories');

    await page.fill('input[name=q]', 'MULTI');
    await page.click('form.filter button[type=submit]');
    expect(await page.locator('table.repositories a').allTextContents()).toEqual(['library/multi']);
    await shot(page, '02-search');

    await page.click('table.repositories a:text-is("library/multi")');
    expect(new URL(page.url()).pathname).toBe('/ui/repositories/library/multi');
    expect(await page.locator('table.tags tbody tr').count()).toBe(1);
    expect(await page.locator('table.tags').textContent()).toMatch(/index\s*linux\/amd64\s*linux\/arm64/);
    await shot(page, '03-repository');

    await page.click('table.tags a:text-is("1.0")');
    expect(await page.locator('table.platforms a').allTextContents()).toEqual(['linux/amd64', 'linux/arm64']);
    await shot(page, '04-index');

    await page.click('table.platforms a:text-is("linux/arm64")');
    expect(decodeURIComponent(page.url())).toContain(armDigest);
    expect(await page.locator('dl.facts').first().textContent()).toContain(armDigest);
    await shot(page, '05-platform-image');

    // The history's step links to its layer; the layer's link downloads exactly its bytes.
    await page.click('table.history a[href="#layer-1"]');
    expect(new URL(page.url()).hash).toBe('#layer-1');
    const download = page.locator('tr#layer-1 a');
    const layerDigest = (await download.getAttribute('title')) as string;
    const [file] = await Promise.all([page.waitForEvent('download'), download.click()]);
    const saved = join(dir, 'layer');
    await file.saveAs(saved);
    expect(sha256(await readFile(saved))).toBe(layerDigest);
    await shot(page, '06-layer');

    // Referrers: the signed image says so; the signature's own page leads back to what it signs.
    await page.goto(`${open.url}/ui/repositories/team/app`);
    await page.click('table.tags a:text-is("v1")');
    const referrers = page.locator('h3', { hasText: SIGNATURE_TYPE });
    expect(await referrers.textContent()).toContain('signed');
    expect(await page.locator('h3', { hasText: SBOM_TYPE }).count()).toBe(1);
    expect(
      await page.locator('table.referrers', { hasText: 'org.opencontainers.image.created' }).count(),
    ).toBe(1);
    await shot(page, '07-image-with-referrers');
    await page.locator('table.referrers a').first().click();
    expect(await page.locator('dl.facts').first().textContent()).toContain('Refers to');
    await shot(page, '08-referrer');
    await page.click('dl.facts a');
    expect(decodeURIComponent(page.url())).toContain(appDigest);

    // The copied pull command pulls the image.
    await page.goto(`${open.url}/ui/repositories/team/app/_manifests/v1`);
    await page.click('button[data-copy="pull-skopeo"]');
    const command = await page.evaluate<string>('navigator.clipboard.readText()');
    expect(command).toBe(`skopeo copy --src-tls-verify=false docker://${host}/team/app:v1 oci:app:v1`);
    const pulled = join(dir, 'pulled');
    await mkdir(pulled);
    await execa('sh', ['-c', command], { cwd: pulled });
    expect(await ociManifestDigest(join(pulled, 'app'), 'v1')).toBe(appDigest);

    await context.close();
    expect(problems).toEqual([]);
  });

  it('pages 2,000 tags 50 at a time and filters them', async () => {
    problems.length = 0;
    const context = await browser.newContext();
    const page = await watched(context);
    await page.goto(`${open.url}/ui/repositories/big/tags`);
    expect(await page.locator('table.tags tbody tr').count()).toBe(50);
    expect(await page.locator('nav.pager').textContent()).toContain('page 1 of 40');
    await shot(page, '09-2000-tags');
    await page.click('a[rel=next]');
    expect(await page.locator('nav.pager').textContent()).toContain('page 2 of 40');
    await page.fill('input[name=q]', 't1999');
    await page.click('form.filter button[type=submit]');
    expect(await page.locator('table.tags a').allTextContents()).toEqual(['t1999']);
    await context.close();
    expect(problems).toEqual([]);
  });

  it('renders hostile content as text: no script runs, no dialog opens, a 1 MB label is clipped', async () => {
    problems.length = 0;
    const context = await browser.newContext();
    const page = await watched(context);
    const response = await page.goto(`${open.url}/ui/repositories/evil/app/_manifests/latest`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
    expect((await response?.body())?.length).toBeLessThan(300 * 1024);
    expect(await page.title()).not.toBe('pwned');
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('a[href^="javascript:"]').count()).toBe(0);
    const text = (await page.locator('main').textContent()) as string;
    expect(text).toContain(HOSTILE.script);
    expect(text).toContain(HOSTILE.img);
    expect(text).toContain(HOSTILE.url);
    expect(text).toContain('more characters not shown');
    await shot(page, '10-hostile');
    for (const url of ['/ui', '/ui/repositories/evil/app']) await page.goto(`${open.url}${url}`);
    await context.close();
    expect(problems).toEqual([]);
  });

  it('with token auth: signs in through the issuer and shows a user only what the ACL lets them pull', async () => {
    problems.length = 0;
    const tokens = await startTokenServer(
      join(dir, 'tokens'),
      'registry',
      [['alice', 'alice-pw']],
      [
        { account: 'alice', name: 'team/*', actions: ['pull'] },
        { anonymous: true, name: 'library/*', actions: ['pull'] },
      ],
    );
    const guarded = await startOurRegistry({
      root,
      dir: join(dir, 'token'),
      extra: {
        ui: { enabled: true },
        auth: tokens.auth,
      },
    });
    const context = await browser.newContext();
    const page = await watched(context);
    const listed = () => page.locator('table.repositories a').allTextContents();

    await page.goto(`${guarded.url}/ui`);
    expect(await listed()).toEqual(['library/multi']);
    await page.click('header a:text-is("Sign in")');
    await page.fill('input[name=username]', 'alice');
    await page.fill('input[name=password]', 'wrong');
    await page.click('form.signin button');
    expect(await page.locator('[role=alert]').textContent()).toContain('Wrong user name or password');
    await page.fill('input[name=username]', 'alice');
    await page.fill('input[name=password]', 'alice-pw');
    await page.click('form.signin button');
    expect(new URL(page.url()).pathname).toBe('/ui');
    expect(await listed()).toEqual(['team/app', 'team/tools']);
    expect(await page.locator('header').textContent()).toContain('signed in as alice');
    await shot(page, '11-signed-in');
    const [session] = await context.cookies();
    expect(session).toMatchObject({
      name: 'regop_ui_session',
      httpOnly: true,
      sameSite: 'Strict',
      path: '/ui',
    });

    // By direct URL: what alice may not pull answers 403 and shows nothing of it, present or not.
    for (const url of [
      '/ui/repositories/evil/app',
      '/ui/repositories/evil/app/_manifests/latest',
      '/ui/repositories/no/such',
    ]) {
      const response = await page.goto(`${guarded.url}${url}`);
      expect(response?.status(), url).toBe(403);
      expect(await page.locator('main').textContent()).not.toContain('sha256:');
    }
    expect((await page.goto(`${guarded.url}/ui/repositories/team/app/_manifests/v1`))?.status()).toBe(200);
    // Anonymous, a page needing sign-in offers the form and returns there after it.
    await page.goto(`${guarded.url}/ui`);
    await page.click('button:text-is("Sign out")');
    expect(await listed()).toEqual(['library/multi']);
    const needed = await page.goto(`${guarded.url}/ui/repositories/team/app`);
    expect(needed?.status()).toBe(401);
    await page.fill('input[name=username]', 'alice');
    await page.fill('input[name=password]', 'alice-pw');
    await page.click('form.signin button');
    expect(new URL(page.url()).pathname).toBe('/ui/repositories/team/app');
    await context.close();
    expect(problems).toEqual([]);
  });

  it('with htpasswd: the browser’s Basic credentials decide, as the API’s', async () => {
    const file = join(dir, 'htpasswd');
    await execa('htpasswd', ['-B', '-c', '-b', file, 'bob', 'bob-pw']);
    const basic = await startOurRegistry({
      root,
      dir: join(dir, 'basic'),
      extra: { ui: { enabled: true }, auth: { htpasswd: { realm: 'Team', path: file } } },
    });
    const anonymous = await fetch(`${basic.url}/ui`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Basic realm="Team"');
    const context = await browser.newContext({ httpCredentials: { username: 'bob', password: 'bob-pw' } });
    const page = await watched(context);
    await page.goto(`${basic.url}/ui`);
    expect(await page.locator('table.repositories a').allTextContents()).toContain('team/app');
    await context.close();
  });

  it('anonymous on a read-only public mirror sees everything; with the UI off /ui is 404 and / unchanged', async () => {
    const mirror = await startOurRegistry({
      root,
      dir: join(dir, 'mirror'),
      storage: { filesystem: { rootdirectory: root }, maintenance: { readonly: { enabled: true } } },
      extra: { ui: { enabled: true, title: 'Public mirror' } },
    });
    const context = await browser.newContext();
    const page = await watched(context);
    await page.goto(`${mirror.url}/ui`);
    expect(await page.locator('table.repositories a').allTextContents()).toEqual(
      expect.arrayContaining(['big/tags', 'evil/app', 'library/multi', 'team/app', 'team/tools']),
    );
    expect(await page.locator('footer').textContent()).toContain('read-only');
    await shot(page, '12-read-only-mirror');
    await context.close();

    const off = await startOurRegistry({ root, dir: join(dir, 'off') });
    expect((await fetch(`${off.url}/ui`)).status).toBe(404);
    const rootPage = await fetch(`${off.url}/`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    expect(rootPage.status).toBe(200);
    expect(await rootPage.text()).toBe('');
    // With the UI on, a health check (no Accept: text/html) still gets the plain answer.
    const probe = await fetch(`${mirror.url}/`, { redirect: 'manual' });
    expect(probe.status).toBe(200);
    expect(await probe.text()).toBe('');
  });
});
