import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ProcessServices } from './services.js';

describe('ProcessServices', () => {
  const dirs: string[] = [];
  afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('does not count a zombie (exited, not yet reaped by its parent) as running', async () => {
    const root = await mkdtemp(join(tmpdir(), 'regop-services-'));
    dirs.push(root);
    const services = new ProcessServices(root);
    await services.install({ name: 'svc', description: 'a zombie', command: ['true'], env: {} });
    // `sleep 0` exits at once; its parent execs `sleep 5`, which never reaps it: a zombie for five seconds.
    const parent = join(root, 'parent.pid');
    const shell = execFile('sh', [
      '-c',
      `sleep 0 & echo $! > ${parent}.child; echo $$ > ${parent}; exec sleep 5`,
    ]);
    let child = '';
    for (let i = 0; i < 50 && !child; i++) {
      await new Promise((r) => setTimeout(r, 20));
      child = (await readFile(`${parent}.child`, 'utf8').catch(() => '')).trim();
    }
    await new Promise((r) => setTimeout(r, 100));
    expect(await readFile(`/proc/${child}/stat`, 'utf8')).toMatch(/^\d+ \(sleep\) Z /);
    await mkdir(join(root, 'run/regop'), { recursive: true });
    await writeFile(join(root, 'run/regop/svc.pid'), child);
    expect(await services.running('svc')).toBe(false);
    await writeFile(join(root, 'run/regop/svc.pid'), (await readFile(parent, 'utf8')).trim());
    expect(await services.running('svc')).toBe(true);
    shell.kill();
  });
});
