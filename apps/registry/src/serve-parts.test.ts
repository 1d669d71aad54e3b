import { Writable } from 'node:stream';
import { parseConfigText } from '@regop/registry';
import Fastify from 'fastify';
import { Registry as MetricsRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { configureDebugServer } from './debug-server.js';
import { Health, PeriodicCheck } from './health.js';
import { configureLogging } from './logging.js';
import { gcSchedule, purgeOptions } from './schedule.js';

const HOUR = 3_600_000;
const config = (yaml: string) => parseConfigText(`version: 0.1\nstorage:\n  inmemory: {}\n${yaml}`);

describe('the maintenance serve runs', () => {
  it('purges uploads older than a week once a day unless told otherwise, and never on a read-only store', () => {
    expect(purgeOptions(config(''))).toEqual({ ageMs: 168 * HOUR, intervalMs: 24 * HOUR, dryRun: false });
    const custom = config(
      '  maintenance:\n    uploadpurging: { enabled: true, age: 2h, interval: 30m, dryrun: true }\n',
    );
    expect(purgeOptions(custom)).toEqual({ ageMs: 2 * HOUR, intervalMs: HOUR / 2, dryRun: true });
    expect(purgeOptions(config('  maintenance:\n    uploadpurging: { enabled: false }\n'))).toBeUndefined();
    expect(purgeOptions(config('  maintenance:\n    readonly: { enabled: true }\n'))).toBeUndefined();
  });

  it('collects as garbagecollect says, with its defaults', () => {
    expect(gcSchedule(config(''))).toBeUndefined();
    const rule = { repositories: 'ci/**', keeplast: 3 };
    const gc = config(
      '  maintenance:\n    garbagecollect:\n      enabled: true\n      deleteuntagged: true\n' +
        '      retention: [{ repositories: "ci/**", keeplast: 3 }]\n',
    );
    expect(gcSchedule(gc)).toEqual({
      intervalMs: 24 * HOUR,
      collect: { dryRun: false, deleteUntagged: true, graceMs: HOUR, retention: [rule] },
    });
    const readOnly =
      '  maintenance:\n    readonly: { enabled: true }\n    garbagecollect: { enabled: true }\n';
    expect(gcSchedule(config(readOnly))).toBeUndefined();
  });

  it("turns a pull-through cache's TTL into a retention rule run every quarter of it", () => {
    const proxy = (ttl: string) => config(`proxy:\n  remoteurl: https://registry-1.docker.io\n${ttl}`);
    const week = 168 * HOUR;
    expect(gcSchedule(proxy(''))).toEqual({
      intervalMs: 24 * HOUR,
      collect: {
        graceMs: HOUR,
        retention: [{ repositories: '**', tagsolderthan: week, untaggedolderthan: week }],
      },
    });
    const short = gcSchedule(proxy('  ttl: 20m\n'));
    expect(short?.intervalMs).toBe(5 * 60_000);
    expect(short?.collect.graceMs).toBe(20 * 60_000);
  });
});

describe('logging', () => {
  const lines = async (yaml: string) => {
    let out = '';
    const stream = new Writable({
      write(chunk, _encoding, done) {
        out += chunk;
        done();
      },
    });
    const app = Fastify({ logger: configureLogging(config(yaml), stream).logger });
    app.log.debug('hidden');
    app.log.warn({ key: 'value' }, 'shown');
    await app.close();
    return out.trim().split('\n');
  };

  it('writes JSON with level names, ISO times and the configured fields', async () => {
    const [line, ...rest] = await lines('log:\n  level: info\n  fields: { service: registry }\n');
    expect(rest).toEqual([]);
    const json = JSON.parse(line as string);
    expect(json).toMatchObject({ level: 'warn', msg: 'shown', key: 'value', service: 'registry' });
    expect(new Date(json.time).toISOString()).toBe(json.time);
  });

  it('writes logstash and text as distribution does, and maps panic to fatal', async () => {
    const [logstash] = await lines('log:\n  formatter: logstash\n');
    expect(JSON.parse(logstash as string)).toMatchObject({ message: 'shown', '@version': '1' });
    const [text] = await lines('log:\n  formatter: text\n');
    expect(text).toMatch(/^time="[^"]+" level=warn msg="shown" pid=\d+ key=value$/);
    expect(await lines('log:\n  level: panic\n')).toEqual(['']);
  });
});

describe('the debug server', () => {
  it('exists only with http.debug.addr, and reports health and metrics', async () => {
    expect(configureDebugServer(config(''), {})).toBeUndefined();
    let healthy = false;
    const check = new PeriodicCheck(
      'storagedriver_inmemory',
      async () => {
        if (!healthy) throw new Error('unreachable');
      },
      { intervalMs: 60_000, threshold: 1 },
    );
    await check.check();
    const metrics = new MetricsRegistry();
    const debug = configureDebugServer(
      config('http:\n  debug:\n    addr: 127.0.0.1:0\n    prometheus: { enabled: true, path: /m }\n'),
      { health: new Health([check]), metrics },
    );
    expect((await debug?.inject('/debug/health'))?.json()).toEqual({ storagedriver_inmemory: 'unreachable' });
    healthy = true;
    await check.check();
    expect((await debug?.inject('/debug/health'))?.statusCode).toBe(200);
    expect((await debug?.inject('/m'))?.statusCode).toBe(200);
  });
});
