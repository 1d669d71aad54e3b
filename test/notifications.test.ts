import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server as HttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Server, stopAll } from '@regop/peers';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pushImage, randomBytes, sha256 } from './support/http.js';
import { describeWithPeers } from './support/peers.js';
import { startDockerRegistry, startOurRegistry } from './support/registries.js';

interface Event {
  id: string;
  action: string;
  target: {
    mediaType?: string;
    digest?: string;
    repository: string;
    tag?: string;
    size?: number;
    url?: string;
  };
  request: { method: string; useragent: string };
}

const OCI = 'application/vnd.oci.image.manifest.v1+json';

// distribution's notifications: a real HTTP listener started here receives what this registry and
// docker-registry 2.8 send for the same operations.
describeWithPeers(['docker-registry'], 'notifications to an HTTP endpoint', () => {
  let dir: string;
  let listener: HttpServer;
  let listenerUrl: string;
  const received = new Map<string, Event[]>();
  const contentTypes = new Set<string>();
  /** Requests the listener still refuses (the endpoint "down"). */
  let refuse = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'regop-events-'));
    listener = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        if (refuse > 0) {
          refuse--;
          res.writeHead(503).end();
          return;
        }
        contentTypes.add(String(req.headers['content-type']));
        const events = (JSON.parse(body) as { events: Event[] }).events;
        const list = received.get(req.url as string) ?? [];
        list.push(...events);
        received.set(req.url as string, list);
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const address = listener.address() as { port: number };
    listenerUrl = `http://127.0.0.1:${address.port}`;
  });
  afterAll(async () => {
    await stopAll();
    await new Promise((resolve) => listener.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  const endpoint = (path: string) => ({
    notifications: {
      endpoints: [
        {
          name: 'listener',
          url: `${listenerUrl}${path}`,
          timeout: '1s',
          threshold: 3,
          backoff: '200ms',
          headers: { 'X-Test': ['yes'] },
        },
      ],
    },
  });

  /** The same operations on a registry: push (blobs, then the manifest by tag), pull, delete. */
  async function operate(registry: Server): Promise<{ manifest: string; layer: string }> {
    const layer = randomBytes(2048);
    const manifest = await pushImage(registry.url, 'events/app', 'v1', [layer]);
    const base = `${registry.url}/v2/events/app`;
    await (await fetch(`${base}/manifests/v1`, { headers: { accept: OCI } })).arrayBuffer();
    await fetch(`${base}/manifests/${manifest}`, { method: 'HEAD', headers: { accept: OCI } });
    await (await fetch(`${base}/blobs/${sha256(layer)}`)).arrayBuffer();
    await fetch(`${base}/blobs/${sha256(layer)}`, { method: 'HEAD' });
    expect((await fetch(`${base}/manifests/${manifest}`, { method: 'DELETE' })).status).toBe(202);
    expect((await fetch(`${base}/blobs/${sha256(layer)}`, { method: 'DELETE' })).status).toBe(202);
    return { manifest, layer: sha256(layer) };
  }

  const summary = (events: Event[]) =>
    events.map((e) =>
      [
        e.action,
        e.target.mediaType ?? '',
        e.target.repository,
        e.target.digest ?? '',
        e.target.tag ?? '',
      ].join(' '),
    );

  async function eventsAt(path: string, count: number): Promise<Event[]> {
    for (let i = 0; i < 100 && (received.get(path)?.length ?? 0) < count; i++) await sleep(100);
    return received.get(path) ?? [];
  }

  it('sends push, pull and delete events, in order, as docker-registry 2.8 does for the same operations', async () => {
    const ours = await startOurRegistry({
      root: join(dir, 'ours'),
      dir: join(dir, 'ours-cfg'),
      extra: endpoint('/ours'),
    });
    const theirs = await startDockerRegistry({
      root: join(dir, 'theirs'),
      dir: join(dir, 'theirs-cfg'),
      extra: endpoint('/theirs'),
    });
    const done = await operate(ours);
    await operate(theirs);
    const theirEvents = await eventsAt('/theirs', 10);
    const ourEvents = await eventsAt('/ours', theirEvents.length);
    // The image's blobs are random, so digests differ between the two runs; the shape must not.
    const normalise = (lines: string[], manifest: string, layer: string) =>
      lines.map((l) =>
        l
          .replace(manifest, 'MANIFEST')
          .replace(layer, 'LAYER')
          .replace(/sha256:\w{64}/, 'CONFIG'),
      );
    const theirDone = { manifest: theirEvents.find((e) => e.target.tag)?.target.digest as string };
    const theirLayer = theirEvents.filter((e) => e.action === 'delete').at(-1)?.target.digest as string;
    expect(normalise(summary(ourEvents), done.manifest, done.layer)).toEqual(
      normalise(summary(theirEvents), theirDone.manifest, theirLayer),
    );
    expect(summary(ourEvents)).toEqual([
      expect.stringMatching(/^push application\/octet-stream events\/app sha256:/),
      `push application/octet-stream events/app ${done.layer} `,
      `push ${OCI} events/app ${done.manifest} v1`,
      `pull ${OCI} events/app ${done.manifest} v1`,
      // distribution counts a HEAD as a pull.
      `pull ${OCI} events/app ${done.manifest} `,
      `pull application/octet-stream events/app ${done.layer} `,
      `pull application/octet-stream events/app ${done.layer} `,
      `delete  events/app ${done.manifest} `,
      // The tag that went with the manifest.
      'delete  events/app  v1',
      `delete  events/app ${done.layer} `,
    ]);
    expect(contentTypes).toEqual(new Set(['application/vnd.docker.distribution.events.v1+json']));
    const push = ourEvents[2] as Event;
    expect(push.request.method).toBe('PUT');
    expect(push.target.url).toBe(`${ours.url}/v2/events/app/manifests/${done.manifest}`);
    expect(new Set(ourEvents.map((e) => e.id)).size).toBe(ourEvents.length);
    await Promise.all([ours.stop(), theirs.stop()]);
  });

  it('queues what an endpoint that is down missed and delivers it in order once it answers, never slowing a push', async () => {
    const ours = await startOurRegistry({
      root: join(dir, 'retry'),
      dir: join(dir, 'retry-cfg'),
      extra: endpoint('/retry'),
    });
    refuse = 8;
    const started = Date.now();
    const tags: string[] = [];
    for (let i = 0; i < 5; i++) {
      tags.push(`t${i}`);
      await pushImage(ours.url, 'events/retry', `t${i}`, [randomBytes(512)]);
    }
    // Five pushes took no listener's time (each is a few ms; a wait on the endpoint would be seconds).
    expect(Date.now() - started).toBeLessThan(5000);
    const events = await eventsAt('/retry', 15);
    expect(refuse).toBe(0);
    expect(events.filter((e) => e.target.tag).map((e) => e.target.tag)).toEqual(tags);
    expect(events).toHaveLength(15);
    await ours.stop();
    expect(ours.output()).toMatch(/notifications: endpoint failing, retrying with backoff/);
  });
});
