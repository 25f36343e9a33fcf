// Build what the published package holds (`npm run build`; `npm pack` runs it as prepack):
//  - dist/node/index.js: the library for Node, ESM (package.json's "import" condition).
//  - dist/cjs/index.js: the same for require(), CommonJS; dist/cjs/package.json says
//    "type": "commonjs", so Node and TypeScript read everything under dist/cjs as CommonJS,
//    including dist/cjs/types/ (a copy of the declarations, which then type `require('resgrad')`).
//  - dist/types/: the .d.ts files, emitted by tsc from tsconfig.build.json.
//  - dist/browser/index.js, dist/browser/resgrad-gpu.js: ESM for pages; the second carries
//    gpu.js's browser build (node_modules/gpu.js/dist/gpu-browser.js), so `initGpu({ mode:
//    'webgl2' })` (or 'webgpu') works in a page with nothing else loaded
//    (test/gpu/browser.test.ts runs such a bundle in Chromium).
//  - dist/bin/resgrad.mjs: the `resgrad` command (bench/bin/resgrad.mjs) with its commands and
//    the library inside, so the installed package runs it with plain node (no tsx). npm packages
//    it imports stay imports: they are the package's dependencies (benchmark, cli-progress, vega,
//    vega-lite) or optional peers the bench loads on demand (onnxruntime-node, tfjs, gpu.js).
// gpu.js (and its headless-gl addon) is loaded lazily by initGpu(), never bundled into the Node
// builds: a user who wants the gpu backend installs it (an optional peer dependency).
// Files the code finds beside its source (sourceLocationUrls below) ship as they are, listed in
// package.json's "files": data/fashion-mnist-subset/, bench/peers/torch_train_step.py.
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { buildLab } from '../lab/build.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
rmSync('dist', { recursive: true, force: true });

const common = {
  entryPoints: ['index.ts'],
  bundle: true,
  format: 'esm',
  sourcemap: true,
  target: 'es2022',
  external: ['gpu.js', 'gl', 'webgpu', 'node:*'],
  logLevel: 'warning',
};
/** esbuild options for one bundle of index.ts at `outfile`. */
const library = (outfile, more = {}) => ({
  ...common,
  outfile,
  ...more,
  plugins: [sourceLocationUrls(outfile), ...(more.plugins ?? [])],
});
const builds = [
  esbuild.build(library('dist/node/index.js', { platform: 'node' })),
  esbuild.build(library('dist/browser/index.js', { platform: 'browser', external: ['gpu.js', 'gl'], plugins: [nodeBuiltinsRefused()] })),
  esbuild.build(
    library('dist/browser/resgrad-gpu.js', {
      platform: 'browser',
      external: [],
      alias: { 'gpu.js': './node_modules/gpu.js/dist/gpu-browser.js' },
      plugins: [nodeBuiltinsRefused()],
    }),
  ),
  // CommonJS has no import.meta: each module's URL is computed from this file's.
  esbuild.build(
    library('dist/cjs/index.js', {
      platform: 'node',
      format: 'cjs',
      define: { 'import.meta.url': '__resgradBundleUrl' },
      banner: { js: "var __resgradBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
    }),
  ),
  esbuild.build({
    entryPoints: ['bench/bin/resgrad.mjs'],
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'es2022',
    outfile: 'dist/bin/resgrad.mjs',
    packages: 'external',
    define: { RESGRAD_BUNDLED: 'true' },
    plugins: [sourceLocationUrls('dist/bin/resgrad.mjs'), missingCommands('bench/bin/resgrad.mjs')],
    logLevel: 'warning',
  }),
];
await Promise.all(builds);
await buildLab({ outDir: 'dist/lab', minify: true, sourcemap: false }); // the static lab page (lab/build.mjs): host it anywhere
mkdirSync('dist/cjs', { recursive: true });
writeFileSync('dist/cjs/package.json', `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);
chmodSync('dist/bin/resgrad.mjs', 0o755);

execFileSync(process.execPath, [resolve('node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
cpSync('dist/types', 'dist/cjs/types', { recursive: true });
console.log('built dist/: node, cjs, browser, bin, types, lab');

/**
 * In a bundle every module keeps the import.meta.url of its source file in the package, instead
 * of all sharing the bundle's: data/fashion_mnist.ts finds the embedded subset beside it
 * (data/fashion-mnist-subset, shipped as is), bench/cli.ts reads '../package.json',
 * bench/peers/torch.ts its .py script, and the "am I the entry script" checks compare their own
 * file with argv[1] (with the bundle's URL, bench/cli.ts would run its main() inside the bin).
 */
function sourceLocationUrls(outfile) {
  const outDir = resolve(dirname(outfile));
  return {
    name: 'source-location-urls',
    setup(build) {
      build.onLoad({ filter: /\.(ts|mjs)$/, namespace: 'file' }, (args) => {
        if (args.path.split(sep).includes('node_modules')) return undefined;
        const text = readFileSync(args.path, 'utf8');
        if (!text.includes('import.meta.url')) return undefined;
        const fromBundle = relative(outDir, args.path).split(sep).join('/');
        return {
          contents: text.replaceAll('import.meta.url', `new URL(${JSON.stringify(fromBundle)}, import.meta.url).href`),
          loader: args.path.endsWith('.ts') ? 'ts' : 'js',
        };
      });
    },
  };
}

/**
 * The browser builds hold no import of a Node built-in: a page's bundler (esbuild, webpack, Vite)
 * would fail to resolve it. Code that imports one dynamically runs only in Node (initGpu's
 * 'headlessgl' preflight, which refuses a browser before it gets there); in a browser build such
 * an import rejects with this error instead. A static import of one fails the build.
 */
function nodeBuiltinsRefused() {
  return {
    name: 'node-builtins-refused',
    setup(build) {
      // 'webgpu' is Dawn's Node binding, which initGpu imports only in Node: a throwing stub too
      build.onResolve({ filter: /^(node:.*|webgpu)$/ }, (args) =>
        args.kind === 'dynamic-import'
          ? { path: args.path, namespace: 'node-builtin' }
          : { errors: [{ text: `${args.importer} imports ${args.path} statically: the browser builds cannot hold it` }] },
      );
      build.onLoad({ filter: /.*/, namespace: 'node-builtin' }, (args) => ({
        contents: `throw new Error(${JSON.stringify(`resgrad: '${args.path}' is ${args.path === 'webgpu' ? "Node's WebGPU binding (Dawn)" : 'a Node built-in'}; this is resgrad's browser build`)});`,
        loader: 'js',
      }));
    },
  };
}

/**
 * A command whose source is not in the tree (a command table entry written before its module)
 * builds into a module that says so, and the bin reports it when the command is run; the build
 * warns. Any other unresolvable import still fails the build.
 */
function missingCommands(binEntry) {
  const entry = resolve(binEntry);
  return {
    name: 'missing-commands',
    setup(build) {
      build.onResolve({ filter: /\.ts$/ }, (args) => {
        if (args.importer !== entry) return undefined;
        const target = resolve(dirname(entry), args.path);
        if (existsSync(target)) return undefined;
        const rel = relative(process.cwd(), target);
        console.warn(`build: ${rel} does not exist: the bin's command that loads it is not in this build`);
        return { path: rel, namespace: 'missing-command' };
      });
      build.onLoad({ filter: /.*/, namespace: 'missing-command' }, (args) => ({
        contents: `export const missing = ${JSON.stringify(`not in this build (${args.path} was missing when the package was built)`)};`,
        loader: 'js',
      }));
    },
  };
}
