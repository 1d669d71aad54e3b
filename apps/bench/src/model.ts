/**
 * `pnpm bench --model`: how long the local model takes for what an operator does most, each step timed to its
 * end (the model returns once every hook it caused has run): deploy to active, a config change, an action,
 * add-unit, relating haproxy and easyrsa, and `status`, by the built command and through `pnpm model` (the
 * difference is the per-command overhead a user pays). It runs the built model command as a user does, in a fresh MODEL_DIR.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const MODEL = fileURLToPath(new URL('../../model/dist/cli.js', import.meta.url));
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const run = promisify(execFile);

const STEPS: [string, string[]][] = [
  ['deploy to active', ['deploy', 'docker-registry']],
  ['config change', ['config', 'docker-registry', 'log-level=debug']],
  ['action (images)', ['run', 'docker-registry/0', 'images']],
  ['add-unit', ['add-unit', 'docker-registry']],
  ['deploy haproxy', ['deploy', 'haproxy']],
  ['relate haproxy', ['relate', 'docker-registry:website', 'haproxy:reverseproxy']],
  ['deploy easyrsa', ['deploy', 'easyrsa']],
  ['relate easyrsa (TLS)', ['relate', 'docker-registry:cert-provider', 'easyrsa:client']],
  ['status (the built cli)', ['status']],
];

/** `pnpm -s model status` from the checkout, as a user types it: pnpm, the freshness check, then the cli. */
const PNPM_STATUS = 'status (pnpm model, all included)';

export async function benchModel(rounds: number): Promise<string> {
  const times = new Map<string, number[]>([...STEPS.map(([name]) => name), PNPM_STATUS].map((n) => [n, []]));
  for (let round = 0; round < rounds; round++) {
    const dir = await mkdtemp(join(tmpdir(), 'regop-bench-model-'));
    const env = { ...process.env, MODEL_DIR: dir };
    try {
      for (const [name, args] of STEPS) {
        const started = process.hrtime.bigint();
        await run(process.execPath, [MODEL, ...args], { env });
        times.get(name)?.push(Number(process.hrtime.bigint() - started) / 1e9);
        process.stderr.write(`round ${round + 1}: ${name}\n`);
      }
      const started = process.hrtime.bigint();
      await run('pnpm', ['-s', 'model', 'status'], { env, cwd: REPO });
      times.get(PNPM_STATUS)?.push(Number(process.hrtime.bigint() - started) / 1e9);
    } finally {
      await run(process.execPath, [MODEL, 'destroy'], { env }).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? Number.NaN;
  return [
    '| step | median (s) | runs (s) |',
    '| --- | --- | --- |',
    ...[...times].map(
      ([name, v]) => `| ${name} | ${median(v).toFixed(1)} | ${v.map((t) => t.toFixed(1)).join(', ')} |`,
    ),
  ].join('\n');
}
