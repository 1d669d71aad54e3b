/**
 * Every shell snippet in the README, run as a newcomer types them: in order, in one directory inside the
 * checkout (so `pnpm ...` finds the workspace), with what the README assumes already there (an OCI layout at
 * ./my-layout, `pnpm registry serve`'s registry on 127.0.0.1:5000). Lines that need the network (npm, apt, Docker Hub)
 * are left out; nothing else is.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startServer, stopAll } from '@regop/peers';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeOciImage } from './support/images.js';
import { describeWithPeers } from './support/peers.js';
import { REGISTRY_MAIN, REPO_ROOT } from './support/registries.js';

const NETWORK = [/npm i -g/, /\.ci\/run/, /docker:\/\/docker\.io\//];

/** The README's ```sh blocks, continuation lines joined, network lines dropped. */
async function snippets(): Promise<string[]> {
  const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
  return [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) =>
    (m[1] as string)
      .replace(/\\\n/g, ' ')
      .split('\n')
      .filter((line) => !NETWORK.some((re) => re.test(line)))
      .join('\n'),
  );
}

/** Runs a snippet with bash in its own process group; resolves its exit code and output. */
function bash(script: string, cwd: string, children: ChildProcess[]) {
  return new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn('bash', ['-euo', 'pipefail', '-c', script], {
      cwd,
      detached: true,
      env: { ...process.env, MODEL_DIR: undefined, CI: process.env.CI } as NodeJS.ProcessEnv,
    });
    children.push(child);
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    // 'exit', not 'close': what a snippet leaves in the background keeps its output pipes open.
    child.on('exit', (code) => resolve({ code, output }));
  });
}

describeWithPeers(
  ['skopeo', 'umoci', 'htpasswd', 'haproxy', 'nrpe', 'curl', 'jq', 'openssl'],
  'the README, run as written',
  () => {
    const dir = join(REPO_ROOT, '.readme-run');
    const groups: ChildProcess[] = [];
    beforeAll(async () => {
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      await rename(await makeOciImage(dir, 'v1', [64 * 1024]), join(dir, 'my-layout'));
      // What `pnpm registry serve` (the first snippet) leaves running: the built-in config, data in ./data.
      await startServer(process.execPath, [REGISTRY_MAIN, 'serve'], {
        url: 'http://127.0.0.1:5000',
        cwd: dir,
      });
    }, 120_000);
    afterAll(async () => {
      // Whatever a snippet left in the background goes with its process group (its leader's PID).
      for (const child of groups)
        try {
          if (child.pid) process.kill(-child.pid, 'SIGTERM');
        } catch {}
      await stopAll();
      await rm(dir, { recursive: true, force: true });
    });

    it('runs every shell snippet in order, each exiting 0', async () => {
      const blocks = await snippets();
      expect(blocks.length).toBeGreaterThanOrEqual(6);
      for (const [i, block] of blocks.entries()) {
        if (!block.trim()) continue;
        const { code, output } = await bash(block, dir, groups);
        expect(code, `README snippet ${i + 1}:\n${block}\n--- output:\n${output.slice(-3000)}`).toBe(0);
      }
    }, 900_000);
  },
);
