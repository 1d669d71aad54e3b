#!/usr/bin/env node
/**
 * `node scripts/ensure-built.mjs PACKAGE...`: builds the named workspace packages (and the workspace packages
 * they depend on) only when a build is missing or older than its sources, so a command whose build is current
 * starts at once. The check reads file times, which takes milliseconds; turbo's own up-to-date check hashes
 * every input and takes over a second. A build says so in one line on stderr (stdout stays the command's).
 * Written here rather than taken from a library: it is one walk over a handful of folders.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Every workspace package by name: its folder and the workspace packages it depends on. */
const packages = new Map();
for (const group of ['packages', 'apps'])
  for (const name of readdirSync(join(root, group))) {
    const dir = join(root, group, name);
    let manifest;
    try {
      manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    } catch {
      continue;
    }
    const deps = Object.keys({ ...manifest.dependencies, ...manifest.devDependencies });
    packages.set(manifest.name, { dir, deps, builds: Boolean(manifest.scripts?.build) });
  }

/** The newest modification time under `path`, folders' own included (a deleted file changes its folder's). */
function newest(path) {
  let info;
  try {
    info = statSync(path);
  } catch {
    return 0;
  }
  if (!info.isDirectory()) return info.mtimeMs;
  let latest = info.mtimeMs;
  for (const entry of readdirSync(path)) latest = Math.max(latest, newest(join(path, entry)));
  return latest;
}

/** When this script last saw a package's build succeed (0: never). */
const MARK = '.built';
const builtAt = (dir) => {
  try {
    return statSync(join(dir, 'dist', MARK)).mtimeMs;
  } catch {
    return 0;
  }
};

/** Inputs every build reads besides a package's own. */
const shared = Math.max(
  newest(join(root, 'tsconfig.base.json')),
  newest(join(root, 'scripts/bundle-program.mjs')),
);

const wanted = process.argv.slice(2);
const closure = new Set();
const visit = (name) => {
  const pkg = packages.get(name);
  if (!pkg || closure.has(name)) return;
  closure.add(name);
  for (const dep of pkg.deps) visit(dep);
};
for (const name of wanted) visit(name);

// Fresh only when a build this script saw succeed is newer than every input: a build turbo ran elsewhere,
// or one that failed halfway, is checked once more (turbo then answers from its cache).
const stale = [...closure].filter((name) => {
  const { dir, builds } = packages.get(name);
  if (!builds) return false;
  const sources = Math.max(
    shared,
    newest(join(dir, 'src')),
    newest(join(dir, 'package.json')),
    newest(join(dir, 'tsconfig.json')),
  );
  return builtAt(dir) <= sources;
});
if (stale.length === 0) process.exit(0);

process.stderr.write(`building ${stale.join(', ')} (not built yet, or changed since)...\n`);
try {
  // turbo's own report is shown only when the build fails.
  execFileSync(
    'pnpm',
    [
      'exec',
      'turbo',
      'run',
      'build',
      ...[...closure].map((name) => `--filter=${name}`),
      '--output-logs=errors-only',
    ],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1', TURBO_NO_UPDATE_NOTIFIER: '1' },
    },
  );
} catch (err) {
  process.stderr.write(`${err.stdout ?? ''}${err.stderr ?? ''}build failed\n`);
  process.exit(1);
}
// turbo may find the outputs current and leave their times alone: the build is marked as checked now.
for (const name of stale) {
  const dist = join(packages.get(name).dir, 'dist');
  mkdirSync(dist, { recursive: true });
  writeFileSync(join(dist, MARK), `${new Date().toISOString()}\n`);
}
