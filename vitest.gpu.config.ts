import { defineConfig } from 'vitest/config';

// GPU tests: gpu.js under headless-gl needs the built gl addon and an X server, so they run
// apart from the default suite: `npm run test:gpu` (xvfb-run -a vitest run --config this file).
// test/gpu/browser.test.ts also runs here: headless Chromium (apt chromium, .ci/setup-gpu.sh) on
// webgl2 and webgpu over SwiftShader. test/gpu/lab.test.ts drives the lab page (lab/) in the same Chromium.
export default defineConfig({
  test: {
    include: ['test/gpu/**/*.test.ts'],
    testTimeout: 120_000,
    pool: 'forks',
    // one GL context at a time: the software renderer is slow and the machine small
    fileParallelism: false,
  },
});
