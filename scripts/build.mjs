// Build: esbuild bundles index.ts for Node and for the browser (ESM), tsc emits .d.ts files.
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
execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
console.log('types: dist/types/index.d.ts');
