import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { processAlive } from '@regop/ops';

/** SIGTERM, up to 10 s to exit, then SIGKILL: by PID, never by name. */
async function stopPid(pid: number) {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 100 && (await processAlive(pid)); i++) await sleep(100);
  if (await processAlive(pid)) process.kill(pid, 'SIGKILL');
}

/**
 * Stops every process whose pidfile lies under `dir` (a unit's run/ directory, or a charm's own part of it),
 * as a machine going away would.
 */
export async function stopProcessesUnder(dir: string): Promise<void> {
  const files = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  for (const file of files.filter((f) => f.endsWith('.pid'))) {
    const pid = Number.parseInt(await readFile(join(dir, file), 'utf8').catch(() => ''), 10);
    if (Number.isFinite(pid)) await stopPid(pid);
  }
}
