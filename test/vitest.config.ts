import { defineProject } from 'vitest/config';

// System tests start real peers (skopeo, docker-registry) and servers; they run one file at a time.
export default defineProject({
  test: {
    name: 'system',
    include: ['**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 120_000,
  },
});
