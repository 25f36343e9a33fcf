// The browser test page: start the gpu backend in the mode named by ?mode=, run the GPU-vs-CPU
// cases and leave the outcome on window.__resgrad for the driver (test/gpu/browser.test.ts).
import { initGpu } from '../../index.js';
import { runCases } from './cases.js';

type Outcome = { mode: string; describe: string; renderer: string; maxTextureSize: number; results: Awaited<ReturnType<typeof runCases>> } | { error: string; name: string };

async function main(): Promise<Outcome> {
  const mode = new URLSearchParams(location.search).get('mode') ?? 'webgl2';
  try {
    const gpu = await initGpu({ mode: mode as 'webgl2' });
    return { mode: gpu.mode, describe: gpu.describe(), renderer: gpu.renderer, maxTextureSize: gpu.maxTextureSize, results: await runCases() };
  } catch (e) {
    const err = e as Error;
    return { error: err.message, name: err.name };
  }
}

main().then((o) => {
  (window as unknown as { __resgrad: Outcome }).__resgrad = o;
});
