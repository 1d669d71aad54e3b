#!/usr/bin/env node
/**
 * `pnpm charm:pack [OUT]`: the deployable charm, as `charmcraft pack` would make it. OUT (default ./dist/charm
 * where pnpm was typed) gets the charm directory (metadata, config, actions, dispatch, and lib/ with the agent,
 * the registry and the NRPE plugin each bundled into one file with esbuild, so the machine needs Node.js only)
 * and OUT/../docker-registry.charm, the same as a zip. Run after a build: it bundles the built packages.
 */
import { chmod, cp, mkdir, readdir, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { zipSync } from 'fflate';
import { bundleProgram, NATIVE } from '../../scripts/bundle-program.mjs';

const repo = resolve(fileURLToPath(new URL('../..', import.meta.url)));
// Relative to where pnpm was typed (INIT_CWD), not the repository root pnpm runs scripts in.
const out = resolve(process.env.INIT_CWD ?? process.cwd(), process.argv[2] ?? 'dist/charm');
const version = JSON.parse(await readFile(join(repo, 'apps/registry/package.json'), 'utf8')).version;

await rm(out, { recursive: true, force: true });
await mkdir(join(out, 'lib'), { recursive: true });
for (const file of ['metadata.yaml', 'config.yaml', 'actions.yaml', 'dispatch'])
  await cp(join(repo, 'charm', file), join(out, file));
await chmod(join(out, 'dispatch'), 0o755);
// The bundles are ES modules.
await writeFile(join(out, 'lib/package.json'), `${JSON.stringify({ type: 'module' }, null, 2)}\n`);
await writeFile(
  join(out, 'manifest.yaml'),
  [
    `charmcraft-started-at: '${new Date().toISOString()}'`,
    'analysis: {}',
    'bases:',
    ...['22.04', '24.04'].flatMap((channel) => [
      '- name: ubuntu',
      `  channel: '${channel}'`,
      '  architectures: [amd64]',
    ]),
    '',
  ].join('\n'),
);

// Native modules cannot be bundled: they go to lib/node_modules, where the bundles' imports find them.
const fromAuth = createRequire(join(repo, 'packages/auth/package.json'));
for (const name of NATIVE) {
  const dir = dirname(fromAuth.resolve(`${name}/package.json`));
  await cp(await realpath(dir), join(out, 'lib/node_modules', name), { recursive: true, dereference: true });
  // Its prebuilt binary for this machine is a package of its own, found beside it.
  const scope = dirname(await realpath(dir));
  for (const entry of await readdir(scope))
    if (entry.startsWith(`${name.split('/')[1]}-`))
      await cp(join(scope, entry), join(out, 'lib/node_modules', dirname(name), entry), {
        recursive: true,
        dereference: true,
      });
}

const programs = {
  agent: 'apps/agent/src/main.ts',
  registry: 'apps/registry/src/main.ts',
  'check-registry': 'apps/check-registry/src/main.ts',
};
for (const [name, entry] of Object.entries(programs))
  await bundleProgram(join(repo, entry), join(out, 'lib', name), version);

/** Every file under dir, with its mode, for the zip. */
async function files(dir) {
  const entries = {};
  for (const name of await readdir(dir, { recursive: true })) {
    const path = join(dir, name);
    const info = await stat(path);
    if (info.isFile())
      entries[relative(dir, path)] = [
        await readFile(path),
        { os: 3, attrs: ((0o100000 | (info.mode & 0o777)) << 16) >>> 0 },
      ];
  }
  return entries;
}
const charmFile = join(dirname(out), 'docker-registry.charm');
await writeFile(charmFile, zipSync(await files(out)));
process.stdout.write(`${out}\n${charmFile}\n`);
