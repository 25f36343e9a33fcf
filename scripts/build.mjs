// Build: esbuild bundles index.ts for Node and for the browser (ESM), tsc emits .d.ts files.
//  - dist/node/index.js, dist/browser/index.js: gpu.js stays external. initGpu() imports it
//    lazily, so a page that wants the gpu backend maps 'gpu.js' to a module itself (an import
//    map, or its own bundler).
//  - dist/browser/resgrad-gpu.js: the same browser bundle with gpu.js's browser build inside
//    (node_modules/gpu.js/dist/gpu-browser.js); `initGpu({ mode: 'webgl2' })` (or 'webgpu') works
//    in a page with nothing else loaded. test/gpu/browser.test.ts runs such a bundle in Chromium.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import * as esbuild from 'esbuild';

rmSync('dist', { recursive: true, force: true });
const common = {
  entryPoints: ['index.ts'],
  bundle: true,
  format: 'esm',
  sourcemap: true,
  target: 'es2022',
  // gpu.js (and its headless-gl addon) is loaded lazily by initGpu(), never bundled.
  external: ['gpu.js', 'gl', 'node:*'],
  logLevel: 'info',
};
await esbuild.build({ ...common, platform: 'node', outfile: 'dist/node/index.js' });
await esbuild.build({ ...common, platform: 'browser', outfile: 'dist/browser/index.js' });
await esbuild.build({
  ...common,
  platform: 'browser',
  outfile: 'dist/browser/resgrad-gpu.js',
  external: ['node:*'],
  alias: { 'gpu.js': './node_modules/gpu.js/dist/gpu-browser.js' },
});
execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
console.log('types: dist/types/index.d.ts');
