import { execFileSync } from 'node:child_process';
import { describe, it } from 'vitest';

function missing(binaries: string[]): string[] {
  return binaries.filter((b) => {
    try {
      execFileSync('sh', ['-c', `command -v ${b}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
}

/**
 * A describe block that needs real programs. Without them it is skipped with a loud reason locally, and
 * fails under CI (where .ci/run installs them all).
 */
export function describeWithPeers(binaries: string[], name: string, body: () => void): void {
  const absent = missing(binaries);
  if (absent.length === 0) {
    describe(name, body);
    return;
  }
  const reason = `${name}: needs ${absent.join(', ')} (apt-get install them; .ci/run does)`;
  if (process.env.CI) {
    describe(name, () => {
      it('has its peer programs installed', () => {
        throw new Error(reason);
      });
    });
  } else {
    process.stderr.write(`\n!!! SKIPPED ${reason}\n\n`);
    describe.skip(name, body);
  }
}
