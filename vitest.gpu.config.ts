import { defineConfig } from 'vitest/config';

// GPU tests: gpu.js under headless-gl needs the built gl addon and an X server, so they run
// apart from the default suite: `npm run test:gpu` (xvfb-run -a vitest run --config this file).
export default defineConfig({
  test: {
    include: ['test/gpu/**/*.test.ts'],
    testTimeout: 120_000,
    pool: 'forks',
    // one GL context at a time: the software renderer is slow and the machine small
    fileParallelism: false,
  },
});
