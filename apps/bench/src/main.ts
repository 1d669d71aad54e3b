#!/usr/bin/env node
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout } from 'node:timers/promises';
import { parseArgs, promisify } from 'node:util';
import { freePort, type Server, startServer, startSwift } from '@regop/peers';
import { benchBasicAuth } from './auth.js';
import { median } from './client.js';
import { benchGarbageCollection } from './gc.js';
import { benchModel } from './model.js';
import { benchProxy } from './proxy.js';
import { pidListeningOn, rssBytes, sampleRss } from './rss.js';
import { benchScale } from './scale.js';
import {
  bigBlobRoundTrip,
  MIXED_FIRST,
  MIXED_REQUESTS,
  mixedRequests,
  SCENARIOS,
  type Target,
} from './scenarios.js';
import {
  type Backend,
  createBucket,
  DOCKER_REGISTRY,
  OURS,
  startRegistry,
  storageConfig,
} from './servers.js';
import { benchUi } from './ui.js';

const USAGE = `Usage: pnpm bench [--s3 | --swift] [--rounds N] [--big-mib N] [--only TEXT]
       pnpm bench --url URL [--vs URL2] [--rounds N] [--big-mib N] [--only TEXT]
       pnpm bench --gc [--gc-manifests N]
       pnpm bench --model [--rounds N]
       pnpm bench --auth [--rounds N]
       pnpm bench --proxy [--rounds N]
       pnpm bench --ui [--swift]
       pnpm bench --scale [--swift] [--sizes 1000,10000,100000]

Without --url, starts this registry and docker-registry (2.8, from the docker-registry package) side by side,
each on its own store: a directory, or with --s3 / --swift its own bucket or container on a test OpenStack Swift
started for the run (its S3 API, or its Swift API); adds each one's start time (spawn to first answer on /v2/,
median of three starts), a bare Node 20 HTTP server's idle RSS beside theirs, and (on a directory) what dd writes
to the same disk. With --url, measures a registry already running (and, with --vs, another one).
Measures in alternating rounds, after an untimed one for each: blob push (monolithic and
chunked) and pull in MB/s, manifest HEAD and GET rates under 32 connections (needs ab, from apache2-utils), 200 small-image
pushes at concurrency 16, a 2000-tag list, catalog pagination over 1000 repositories, and each server's
RSS: idle (after 12 s without requests), peak over the run, the rise while a --big-mib blob (default 2048) is
pushed and pulled, and what it is after 5,000 and after 40,000 mixed requests (pulls, misses, uploads started
and cancelled; 16 clients).
Servers must listen on this machine for RSS to be read (their PID is found from the port).
--only runs the scenarios whose name contains TEXT (and the big blob and mixed requests only when TEXT is 'rss').
--gc times registry garbage-collect against docker-registry's on copies of one filesystem store of
N manifests (default 1000) of ten blobs each, one in ten deleted.
--model times the local model (pnpm model): deploy to active, a config change, an action, add-unit,
relating haproxy and easyrsa, and status (built and through pnpm), each in a fresh model.
--auth starts this registry and docker-registry with a cost-10 bcrypt htpasswd (as the charm writes) and
measures manifest HEAD and GET rates with Basic credentials sent on every request (needs htpasswd and ab);
then this registry against an LDAP directory (slapd), with verified credentials cached and not.
--proxy pulls an image of four 64 MiB layers through a pull-through cache of a docker-registry upstream, cold
and warm, this registry against docker-registry in proxy mode, beside pulls from the upstream and from this
registry directly, and the blob bytes each cache fetched from the upstream (from its access log).
--ui times the web UI's first page of repositories and of a repository's tags, on stores of 10 and of 10,000
repositories and tags (with --swift, on a test OpenStack Swift): the first request and the median after it.
--scale times, on stores of each size (default 1,000, 10,000 and 100,000; written straight through the driver),
the first and a deep page of the catalog and of a repository's tags, a tag resolve and a manifest GET (median of
20), and garbage collection per blob by this registry and docker-registry (on a test OpenStack Swift with --swift).`;

const MiB = 1024 * 1024;
const fmt = (n: number | undefined) => (n === undefined ? '-' : n >= 100 ? n.toFixed(0) : n.toFixed(1));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      vs: { type: 'string' },
      rounds: { type: 'string', default: '3' },
      'big-mib': { type: 'string', default: '2048' },
      only: { type: 'string' },
      gc: { type: 'boolean' },
      model: { type: 'boolean' },
      auth: { type: 'boolean' },
      proxy: { type: 'boolean' },
      ui: { type: 'boolean' },
      scale: { type: 'boolean' },
      sizes: { type: 'string', default: '1000,10000,100000' },
      s3: { type: 'boolean' },
      swift: { type: 'boolean' },
      'gc-manifests': { type: 'string', default: '1000' },
      help: { type: 'boolean' },
      version: { type: 'boolean' },
    },
  });
  if (values.version) {
    process.stdout.write('bench 0.1.0\n');
    return;
  }
  if (values.model) {
    process.stdout.write(`${await benchModel(Number(values.rounds))}\n`);
    return;
  }
  if (values.proxy) {
    const rows = await benchProxy(Number(values.rounds));
    process.stdout.write(
      `\n| metric | A | B | A vs B |\n| --- | --- | --- | --- |\n${rows}\nmedians of ${values.rounds} rounds\n`,
    );
    return;
  }
  if (values.auth) {
    const rows = await benchBasicAuth(Number(values.rounds));
    process.stdout.write(
      `\n| metric | this registry | docker-registry | A vs B |\n| --- | --- | --- | --- |\n${rows}\nmedians of ${values.rounds} rounds\n`,
    );
    return;
  }
  if (values.ui) {
    process.stdout.write(await benchUi(values.swift ? 'swift' : 'filesystem'));
    return;
  }
  if (values.scale) {
    const sizes = values.sizes.split(',').map(Number);
    if (sizes.some((n) => !Number.isInteger(n) || n < 10 || n % 10 !== 0))
      throw new Error('--sizes takes multiples of 10, comma-separated, such as 1000,10000');
    process.stdout.write(await benchScale(values.swift ? 'swift' : 'filesystem', sizes));
    return;
  }
  if (values.gc) {
    const row = await benchGarbageCollection(Number(values['gc-manifests']));
    process.stdout.write(
      `\n| metric | this registry | docker-registry | A vs B |\n| --- | --- | --- | --- |\n${row}`,
    );
    return;
  }
  if (values.help || (values.vs && !values.url)) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(values.help ? 0 : 2);
  }
  const options = { rounds: Number(values.rounds), only: values.only, bigMiB: Number(values['big-mib']) };
  if (values.url) {
    process.stdout.write(await compare([values.url, ...(values.vs ? [values.vs] : [])], options));
    return;
  }
  const backend: Backend = values.s3 ? 's3' : values.swift ? 'swift' : 'filesystem';
  process.stdout.write(await sideBySide(backend, options));
}

/** This registry (A) and docker-registry (B), started here on `backend`, compared; their start times added. */
async function sideBySide(backend: Backend, options: CompareOptions): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'regop-bench-'));
  const swift = backend === 'filesystem' ? undefined : await startSwift();
  const servers: Server[] = [];
  try {
    const start = async (name: string, command: string[]) => {
      if (backend === 's3' && swift) await createBucket(swift, `bench-${name}`);
      return startRegistry(dir, name, command, { storage: storageConfig(backend, dir, name, swift) });
    };
    const starts = { A: [] as number[], B: [] as number[] };
    for (let i = 0; i < 3; i++) {
      for (const [label, command] of [
        ['A', OURS],
        ['B', DOCKER_REGISTRY],
      ] as const) {
        const started = await start(label === 'A' ? 'ours' : 'theirs', command);
        starts[label].push(started.startSeconds);
        await started.server.stop();
      }
    }
    const ours = await start('ours', OURS);
    servers.push(ours.server);
    const theirs = await start('theirs', DOCKER_REGISTRY);
    servers.push(theirs.server);
    const bare = await startBareNode();
    servers.push(bare);
    process.stderr.write(`storage: ${backend}${swift ? ` (test Swift at ${swift.authUrl})` : ''}\n`);
    const rows = [
      ['start to first answer on /v2/ (s)', median(starts.A).toFixed(2), median(starts.B).toFixed(2)],
    ];
    if (backend === 'filesystem')
      rows.push([
        'write ceiling: dd of 256 MiB with fsync, same disk (MB/s)',
        (await ddRate(dir)).toFixed(0),
        '',
      ]);
    return await compare([ours.url, theirs.url], options, rows, bare.pid);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await swift?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The ceiling of a lean process: Node 20's own HTTP server answering every request with `{}`. */
async function startBareNode(): Promise<Server> {
  const port = await freePort();
  const script = `require('node:http').createServer((q, s) => s.end('{}')).listen(${port}, '127.0.0.1')`;
  const url = `http://127.0.0.1:${port}`;
  return startServer(process.execPath, ['-e', script], { url, output: 'ignore', pollMs: 5 });
}

/** What this disk takes: `dd` of 256 MiB into a new file in `dir`, synced, median of three, in MB/s. */
async function ddRate(dir: string): Promise<number> {
  const rates: number[] = [];
  for (let i = 0; i < 3; i++) {
    const file = join(dir, `dd-${i}`);
    const started = process.hrtime.bigint();
    await promisify(execFile)('dd', ['if=/dev/zero', `of=${file}`, 'bs=8M', 'count=32', 'conv=fsync']);
    rates.push(268.435456 / (Number(process.hrtime.bigint() - started) / 1e9));
    await rm(file);
  }
  return median(rates);
}

/**
 * How long servers are left without requests before their idle RSS is read: V8 gives back what its start took
 * (its memory reducer) some 8 s after the last activity, in every Node process alike.
 */
const SETTLE_MS = 12_000;

interface CompareOptions {
  rounds: number;
  only: string | undefined;
  bigMiB: number;
}

const flushPageCache = () => promisify(execFile)('sync');

/** Runs the scenarios against `urls` (A, and B if given) in alternating rounds; returns the table. */
async function compare(
  urls: string[],
  options: CompareOptions,
  extraRows: string[][] = [],
  barePid?: number,
): Promise<string> {
  const { rounds, only } = options;
  const runId = randomBytes(4).toString('hex');
  const targets: Target[] = urls.map((url, i) => ({
    label: i === 0 ? 'A' : 'B',
    url: url.replace(/\/+$/, ''),
    prefix: `bench-${runId}`,
  }));

  const pids = new Map<string, number | undefined>();
  const idle = new Map<string, number>();
  for (const t of targets) {
    const res = await fetch(`${t.url}/v2/`);
    if (res.status !== 200) throw new Error(`${t.url}/v2/ answered ${res.status}`);
    const pid = await pidListeningOn(Number(new URL(t.url).port || 80));
    pids.set(t.label, pid);
    process.stderr.write(`${t.label}: ${t.url}${pid ? ` (pid ${pid})` : ' (pid not found: no RSS)'}\n`);
  }
  process.stderr.write(`idle RSS read after ${SETTLE_MS / 1000} s without requests\n`);
  await setTimeout(SETTLE_MS);
  for (const t of targets) {
    const pid = pids.get(t.label);
    if (pid) idle.set(t.label, await rssBytes(pid));
  }
  const bareIdle = barePid === undefined ? undefined : await rssBytes(barePid);
  const samplers = targets.map((t) => {
    const pid = pids.get(t.label);
    return pid ? sampleRss(pid) : undefined;
  });

  const scenarios = only === undefined ? SCENARIOS : SCENARIOS.filter((s) => s.name.includes(only));
  const results = new Map<string, Map<string, number[]>>();
  for (const scenario of scenarios) {
    const byTarget = new Map<string, number[]>();
    results.set(scenario.name, byTarget);
    for (const t of targets) {
      await scenario.setup?.(t);
      byTarget.set(t.label, []);
    }
    // One untimed round for each registry first: a Node server compiles its hot paths during its first
    // requests (its start is measured on its own), and both get the same.
    for (const t of targets) {
      await flushPageCache();
      await scenario.run(t, -1);
    }
    // Alternate A and B within each round so drift in the machine hits both alike.
    for (let round = 0; round < rounds; round++) {
      for (const t of round % 2 === 0 ? targets : [...targets].reverse()) {
        // The kernel writes back what earlier rounds stored from 30 s on, on this machine's CPUs and disk:
        // flushed before each round, that lands on no round's clock.
        await flushPageCache();
        const value = await scenario.run(t, round);
        byTarget.get(t.label)?.push(value);
        process.stderr.write(
          `  ${scenario.name} [${t.label} round ${round + 1}]: ${fmt(value)} ${scenario.unit}\n`,
        );
      }
    }
  }
  const peaks = await Promise.all(samplers.map((s) => s?.stop()));

  // The big blob round trip, one target at a time, with RSS sampled on its own.
  const bigMiB = only === undefined || only === 'rss' ? options.bigMiB : 0;
  const bigRise = new Map<string, number>();
  for (const t of targets) {
    const pid = pids.get(t.label);
    if (!pid || bigMiB <= 0) continue;
    const before = await rssBytes(pid);
    const sampler = sampleRss(pid);
    await bigBlobRoundTrip(t, bigMiB * MiB);
    bigRise.set(t.label, ((await sampler.stop()) - before) / MiB);
    process.stderr.write(
      `  ${bigMiB} MiB blob push+pull [${t.label}]: RSS rise ${fmt(bigRise.get(t.label))} MiB\n`,
    );
  }

  // RSS after MIXED_FIRST and after MIXED_REQUESTS mixed requests: what stays of the load, not its peak.
  const mixed = new Map<string, number[]>();
  for (const t of targets) {
    const pid = pids.get(t.label);
    if (!pid || !(only === undefined || only === 'rss')) continue;
    const marks: number[] = [];
    await mixedRequests(t, async () => {
      marks.push((await rssBytes(pid)) / MiB);
    });
    mixed.set(t.label, marks);
    process.stderr.write(`  mixed requests [${t.label}]: RSS ${marks.map((m) => fmt(m)).join(' -> ')} MiB\n`);
  }

  const header = [
    'metric',
    ...targets.map((t) => `${t.label} (${t.url})`),
    ...(targets.length > 1 ? ['A vs B'] : []),
  ];
  const rows: string[][] = [];
  for (const scenario of scenarios) {
    const a = median(results.get(scenario.name)?.get('A') ?? []);
    const b = targets.length > 1 ? median(results.get(scenario.name)?.get('B') ?? []) : undefined;
    const ratio =
      b === undefined
        ? []
        : [scenario.higherIsBetter ? `${(a / b).toFixed(2)}x` : `${(a / b).toFixed(2)}x the time`];
    rows.push([
      `${scenario.name} (${scenario.unit})`,
      fmt(a),
      ...(b === undefined ? [] : [fmt(b)]),
      ...ratio,
    ]);
  }
  const mib = (label: string, m: Map<string, number>) =>
    m.has(label) ? fmt((m.get(label) as number) / MiB) : '-';
  rows.push(...extraRows);
  rows.push(['RSS idle (MiB)', ...targets.map((t) => mib(t.label, idle))]);
  if (bareIdle !== undefined)
    rows.push(['RSS idle of a bare Node 20 HTTP server, for scale (MiB)', fmt(bareIdle / MiB), '']);
  rows.push([
    'RSS peak over the run (MiB)',
    ...targets.map((_, i) => fmt(peaks[i] === undefined ? undefined : (peaks[i] as number) / MiB)),
  ]);
  rows.push([
    `RSS rise during ${bigMiB} MiB push+pull (MiB)`,
    ...targets.map((t) => fmt(bigRise.get(t.label))),
  ]);
  for (const [i, count] of [MIXED_FIRST, MIXED_REQUESTS].entries()) {
    rows.push([
      `RSS after ${count.toLocaleString('en')} mixed requests (MiB)`,
      ...targets.map((t) => fmt(mixed.get(t.label)?.[i])),
    ]);
  }

  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return `\n${line(header)}\n${line(header.map(() => '---'))}\n${rows.map(line).join('\n')}\n\nmedians of ${rounds} rounds\n`;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).message}\n`);
  process.exit(1);
});
