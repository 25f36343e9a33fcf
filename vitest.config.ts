import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // GPU tests need an X server (xvfb-run) and the gl addon; `npm run test:gpu` runs them.
    exclude: ['test/gpu/**', 'node_modules/**'],
    testTimeout: 60_000,
    pool: 'forks',
  },
});
