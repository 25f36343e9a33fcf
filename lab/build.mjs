// Build the lab page into a folder of static files (dist/lab by default): index.html, style.css,
// app.js (the page: tabs, charts, the gpu.js paths), worker.js (the engine's CPU paths in a Web
// Worker) and the embedded Fashion-MNIST subset they fetch. Plain JavaScript so that both
// `npm run lab` (lab/cli.ts) and `npm run build` (scripts/build.mjs, plain node) can call it.
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SUBSET_FILES = [
  'train-images-idx3-ubyte.gz',
  'train-labels-idx1-ubyte.gz',
  't10k-images-idx3-ubyte.gz',
  't10k-labels-idx1-ubyte.gz',
  'LICENSE',
];

/**
 * Write the lab to `outDir` (relative to the repository root unless absolute); returns its
 * absolute path. `minify` without `sourcemap` makes the copy to host: about 2.2 MB of scripts
 * instead of 4 MB plus 8.7 MB of maps (npm run lab keeps both, for reading the code in devtools). data/fashion_mnist.ts finds the subset beside the bundle that loads it
 * (new URL('./fashion-mnist-subset/', import.meta.url)), so the files go next to app.js.
 */
export async function buildLab({ outDir = 'dist/lab', minify = false, sourcemap = true } = {}) {
  const out = resolve(root, outDir);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'fashion-mnist-subset'), { recursive: true });
  const common = {
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap,
    minify,
    keepNames: true, // error messages and the model summary print class names
    logLevel: 'warning',
    absWorkingDir: root,
  };
  await Promise.all([
    // the page holds gpu.js's browser build: initGpu's import('gpu.js') resolves to it
    esbuild.build({
      ...common,
      entryPoints: ['lab/app.ts'],
      outfile: join(out, 'app.js'),
      alias: { 'gpu.js': './node_modules/gpu.js/dist/gpu-browser.js' },
      external: ['node:*', 'webgpu'], // imported only in Node, never reached in a page
    }),
    // the worker runs the CPU paths only: gpu.js stays out of it
    esbuild.build({ ...common, entryPoints: ['lab/worker.ts'], outfile: join(out, 'worker.js'), external: ['node:*', 'webgpu', 'gpu.js', 'gl'] }),
  ]);
  cpSync(join(root, 'lab/index.html'), join(out, 'index.html'));
  cpSync(join(root, 'lab/style.css'), join(out, 'style.css'));
  for (const f of SUBSET_FILES) cpSync(join(root, 'data/fashion-mnist-subset', f), join(out, 'fashion-mnist-subset', f));
  return out;
}
