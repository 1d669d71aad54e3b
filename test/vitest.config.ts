import { defineProject } from 'vitest/config';

// System tests start real peers (skopeo, docker-registry) and servers; one worker runs them one file at a time.
export default defineProject({
  test: {
    name: 'system',
    include: ['**/*.test.ts'],
    pool: 'forks',
    poolOptions: { forks: { singleFork: true } },
    testTimeout: 300_000,
    hookTimeout: 120_000,
  },
});
