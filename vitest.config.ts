import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    env: { NODE_ENV: 'test' },
    // the JSON report lets .ci/run print one plain closing line of counts
    reporters: ['default', ['json', { outputFile: 'test-output/vitest-results.json' }]],
  },
});
