// The package as users install it. `npm pack` on a copy of this working tree (prepack builds
// dist/ there, so this checkout's dist/ is left alone), the tarball installed into an empty
// project with `npm ci` from a lockfile made from ours (the npm cache serves it offline; a machine
// without the cache fetches from the registry), gpu.js and @types/node added as a user adds them,
// and then used as users use it: import (ESM), require (CJS), an esbuild bundle, tsc with
// moduleResolution node16 and bundler, `npx resgrad bench` and `npx resgrad train`. The consumer's
// numbers must equal, bit for bit, the same code run here from the sources.
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as resgrad from '../../index.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
  peerDependencies?: Record<string, string>;
};
const tarballName = `resgrad-${manifest.version}.tgz`;
const work = mkdtempSync(join(tmpdir(), 'resgrad-package-'));
const src = join(work, 'src');
const app = join(work, 'app');
afterAll(() => rmSync(work, { recursive: true, force: true }), 120_000);

/** The environment of a user's shell: none of vitest's or npm's (when run by `npm test`) variables. */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(npm_|NODE_OPTIONS$|VITEST|TSX_|INIT_CWD$)/i.test(k)) env[k] = v;
  }
  return { ...env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };
}

function run(cmd: string, args: string[], cwd: string, allowFail = false): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env: userEnv(), encoding: 'utf8', maxBuffer: 64 << 20 });
  if (!allowFail && r.status !== 0) {
    const tail = (s: string) => s.trim().split('\n').slice(-25).join('\n');
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status ?? r.signal}${r.error ? ` (${r.error.message})` : ''}\n--- stdout\n${tail(r.stdout ?? '')}\n--- stderr\n${tail(r.stderr ?? '')}`);
  }
  return r;
}

/** This working tree as git sees it (tracked and untracked files, not ignored ones). */
function copyWorkingTree(to: string): void {
  const listed = run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], root).stdout.split('\0');
  for (const file of listed) {
    if (file === '' || !existsSync(join(root, file))) continue; // a tracked file deleted in the tree
    mkdirSync(dirname(join(to, file)), { recursive: true });
    copyFileSync(join(root, file), join(to, file));
  }
  symlinkSync(join(root, 'node_modules'), join(to, 'node_modules'), 'dir');
}

interface LockEntry {
  version: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  [key: string]: unknown;
}

/**
 * The consumer's package-lock.json: resgrad from the tarball, and its dependencies' closure with
 * the versions and integrity hashes of our lockfile (npm installs them from its cache by hash).
 */
function consumerLock(registry: string): object {
  const ours = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')).packages as Record<string, LockEntry>;
  const parent = (path: string) => path.slice(0, Math.max(0, path.lastIndexOf('/node_modules/')));
  const find = (from: string, name: string): string | undefined => {
    for (let at = from; ; at = parent(at)) {
      const path = `${at ? `${at}/` : ''}node_modules/${name}`;
      if (ours[path]) return path;
      if (!at) return undefined;
    }
  };
  const packages: Record<string, object> = {
    '': { name: 'resgrad-consumer', version: '1.0.0', dependencies: { resgrad: `file:${tarballName}` } },
    'node_modules/resgrad': { ...manifestForLock(), resolved: `file:${tarballName}` },
  };
  const queue: [from: string, name: string][] = Object.keys(manifest.dependencies).map((name) => ['', name]);
  while (queue.length > 0) {
    const [from, name] = queue.pop() as [string, string];
    const path = find(from, name);
    if (path === undefined) throw new Error(`package-lock.json has no ${name} (needed from '${from || 'resgrad'}')`);
    if (packages[path]) continue;
    const { dev: _d, devOptional: _o, peer: _p, ...entry } = ours[path] as LockEntry;
    const pkg = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    packages[path] = { resolved: `${registry}${pkg}/-/${pkg.split('/').pop()}-${entry.version}.tgz`, ...entry };
    for (const dep of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) {
      if (find(path, dep) !== undefined) queue.push([path, dep]);
      else if (!entry.optionalDependencies?.[dep]) throw new Error(`package-lock.json has no ${dep} (needed by ${path})`);
    }
  }
  return { name: 'resgrad-consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}

function manifestForLock(): object {
  const m = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  return { version: m.version, license: m.license, dependencies: m.dependencies, peerDependencies: m.peerDependencies, peerDependenciesMeta: m.peerDependenciesMeta, bin: m.bin, engines: m.engines };
}

/**
 * What the consumer runs (ESM, CJS and bundled alike) and this test runs on the sources, with
 * the library as `r`: two training steps of a small ResNet, a threaded matmul, the error classes
 * and the gpu backend (gpu.js's cpu mode). Returns JSON-able results.
 */
const APP_BODY = `
  r.manualSeed(11);
  r.setNumThreads(1);
  const model = r.models.cifarResNet(8, { width: 4 });
  const opt = new r.optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
  const x = r.randn([2, 3, 8, 8]);
  const y = r.randint(0, 10, [2]);
  const losses = [];
  for (let i = 0; i < 2; i++) {
    const loss = r.tidy(() => {
      opt.zeroGrad();
      const l = r.F.crossEntropy(model.forward(x), y);
      l.backward();
      opt.step();
      return l.detach();
    });
    losses.push(loss.toArray()[0]);
  }
  r.setNumThreads(2);
  const a = r.randn([96, 96]);
  const product = Array.from(a.matmul(a).toArray());
  let error = 'none';
  try {
    r.zeros([2]).add(r.zeros([3]));
  } catch (e) {
    error = (e instanceof r.ShapeError && e instanceof r.ResgradError ? 'ShapeError: ' : 'other: ') + e.message;
  }
  const gpu = await r.initGpu({ mode: 'cpu' });
  const onGpu = Array.from(await r.tensor([[1, 2], [3, 4]]).to('gpu').matmul(r.tensor([[5], [6]]).to('gpu')).data());
  return { losses, fc: Array.from(model.fc.weight.toArray()), product, error, gpu: gpu.mode, onGpu };
`;
const ESM_APP = `import * as r from 'resgrad';\nconst main = async () => {${APP_BODY}};\nconsole.log(JSON.stringify(await main()));\n`;
const CJS_APP = `const r = require('resgrad');\nconst main = async () => {${APP_BODY}};\nmain().then((out) => console.log(JSON.stringify(out)));\n`;

type AppResult = Record<string, unknown>;
let expected: AppResult;

beforeAll(async () => {
  mkdirSync(app, { recursive: true });
  copyWorkingTree(src);
  run('npm', ['pack', '--pack-destination', work], src);
  copyFileSync(join(work, tarballName), join(app, tarballName));
  const registry = run('npm', ['config', 'get', 'registry'], app).stdout.trim().replace(/\/?$/, '/');
  writeFileSync(join(app, 'package.json'), `${JSON.stringify({ name: 'resgrad-consumer', version: '1.0.0', private: true, dependencies: { resgrad: `file:${tarballName}` } }, null, 2)}\n`);
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify(consumerLock(registry), null, 2));
  run('npm', ['ci', '--prefer-offline'], app);
  // What a user adds: gpu.js (for initGpu) and Node's types; linked from our node_modules.
  mkdirSync(join(app, 'node_modules', '@types'), { recursive: true });
  symlinkSync(join(root, 'node_modules', 'gpu.js'), join(app, 'node_modules', 'gpu.js'), 'dir');
  symlinkSync(join(root, 'node_modules', '@types', 'node'), join(app, 'node_modules', '@types', 'node'), 'dir');
  writeFileSync(join(app, 'app.mjs'), ESM_APP);
  writeFileSync(join(app, 'app.cjs'), CJS_APP);
  const AsyncFunction = (async () => {}).constructor as new (arg: string, body: string) => (r: typeof resgrad) => Promise<AppResult>;
  expected = JSON.parse(JSON.stringify(await new AsyncFunction('r', APP_BODY)(resgrad)));
}, 600_000);

const nodeApp = (file: string) => JSON.parse(run(process.execPath, [file], app).stdout) as AppResult;
const installed = join(app, 'node_modules', 'resgrad');

describe('the package as users install it', () => {
  it('the tarball holds the builds, types, bin and data, and no sources or tests', () => {
    const files = run('tar', ['tzf', join(work, tarballName)], work).stdout.trim().split('\n');
    for (const f of [
      'dist/node/index.js', 'dist/cjs/index.js', 'dist/cjs/package.json', 'dist/browser/index.js', 'dist/browser/resgrad-gpu.js',
      'dist/types/index.d.ts', 'dist/cjs/types/index.d.ts', 'dist/bin/resgrad.mjs', 'bench/peers/torch_train_step.py',
      'data/fashion-mnist-subset/train-images-idx3-ubyte.gz', 'README.md', 'package.json',
    ]) {
      expect(files, f).toContain(`package/${f}`);
    }
    const stray = files.filter((f) => /\.(ts|mts|cts)$/.test(f) && !/\.d\.ts$/.test(f));
    expect(stray, 'TypeScript sources in the tarball').toEqual([]);
    expect(files.filter((f) => /^package\/(test|scripts|core|kernels|nn|models|autograd)\//.test(f))).toEqual([]);
  });

  it('every package the builds import is a dependency, an optional peer or a Node built-in', () => {
    const m = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
    expect(m.peerDependencies['gpu.js'], 'gpu.js: a peer dependency').toBeDefined();
    expect(m.peerDependenciesMeta['gpu.js'], 'gpu.js: optional').toEqual({ optional: true });
    expect(m.dependencies['gpu.js'], 'gpu.js is not forced on every user').toBeUndefined();
    const bare = /(?:^import [^;]*? from |\bimport\(|\brequire\()"([^".][^"]*)"/gm;
    for (const build of ['dist/node/index.js', 'dist/cjs/index.js', 'dist/bin/resgrad.mjs']) {
      const text = readFileSync(join(installed, build), 'utf8');
      for (const [, spec] of text.matchAll(bare)) {
        const name = (spec as string).startsWith('@') ? (spec as string).split('/').slice(0, 2).join('/') : (spec as string).split('/')[0];
        if ((spec as string).startsWith('node:')) continue;
        const declared = m.dependencies[name as string] !== undefined || m.peerDependenciesMeta?.[name as string]?.optional === true;
        expect(declared, `${build} imports '${spec}', which package.json does not declare`).toBe(true);
      }
    }
    // the dependencies really are installed for the bin
    for (const dep of Object.keys(m.dependencies)) expect(existsSync(join(app, 'node_modules', dep, 'package.json')), dep).toBe(true);
  });

  it('import (ESM) runs the same numbers as the sources, and initGpu finds gpu.js', () => {
    const out = nodeApp('app.mjs');
    expect(out).toEqual(expected);
    expect(out.gpu).toBe('cpu');
    expect(String(out.error)).toMatch(/^ShapeError: /);
  });

  it('require (CJS) runs the same numbers', () => {
    expect(nodeApp('app.cjs')).toEqual(expected);
  });

  it('an esbuild bundle for Node runs the same numbers; a browser bundle takes the browser build', async () => {
    const node = await esbuild.build({
      absWorkingDir: app, entryPoints: ['app.mjs'], bundle: true, platform: 'node', format: 'esm', outfile: 'out/node.mjs',
      external: ['gpu.js'], metafile: true, logLevel: 'silent',
    });
    expect(Object.keys(node.metafile.inputs)).toContain('node_modules/resgrad/dist/node/index.js');
    expect(nodeApp('out/node.mjs')).toEqual(expected);
    const page = await esbuild.build({
      absWorkingDir: app, entryPoints: ['app.mjs'], bundle: true, platform: 'browser', format: 'esm', outfile: 'out/page.js',
      external: ['gpu.js'], metafile: true, logLevel: 'silent',
    });
    expect(Object.keys(page.metafile.inputs)).toContain('node_modules/resgrad/dist/browser/index.js');
    const imports = Object.values(page.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path));
    expect(imports.filter((p) => p !== 'gpu.js'), 'a page bundle imports nothing from Node').toEqual([]);
    // resgrad/browser-gpu: the browser build with gpu.js inside, for a page with nothing else
    const withGpu = await esbuild.build({
      absWorkingDir: app, stdin: { contents: "import { initGpu } from 'resgrad/browser-gpu';\nconsole.log(typeof initGpu);\n", resolveDir: app },
      bundle: true, platform: 'browser', format: 'esm', outfile: 'out/page-gpu.js', metafile: true, logLevel: 'silent',
    });
    expect(Object.keys(withGpu.metafile.inputs)).toContain('node_modules/resgrad/dist/browser/resgrad-gpu.js');
    expect(Object.values(withGpu.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path)), 'imports left in the page bundle').toEqual([]);
  });

  it('types resolve with moduleResolution node16 (ESM and CJS files) and bundler', () => {
    const consumer = `import { F, models, randn, type Tensor } from 'resgrad';
const x: Tensor = randn([2, 3, 8, 8]);
const logits = models.cifarResNet(8).forward(x);
const loss: Tensor = F.crossEntropy(logits, logits.argmax(1));
const shape: readonly number[] = loss.shape;
// @ts-expect-error the types are real: a Tensor has no such method
x.noSuchMethod();
console.log(shape);
`;
    writeFileSync(join(app, 'consumer.mts'), consumer);
    writeFileSync(join(app, 'consumer.ts'), consumer);
    writeFileSync(
      join(app, 'consumer.cts'),
      `import resgrad = require('resgrad');
const t: resgrad.Tensor = resgrad.zeros([2]);
// @ts-expect-error the types are real
t.noSuchMethod();
export = t;
`,
    );
    const strict = { strict: true, noEmit: true };
    writeFileSync(join(app, 'tsconfig.node16.json'), JSON.stringify({ compilerOptions: { ...strict, module: 'node16', moduleResolution: 'node16', types: ['node'], skipLibCheck: false }, files: ['consumer.mts', 'consumer.cts'] }));
    writeFileSync(join(app, 'tsconfig.bundler.json'), JSON.stringify({ compilerOptions: { ...strict, module: 'esnext', moduleResolution: 'bundler', types: [], lib: ['es2022', 'dom'], skipLibCheck: true }, files: ['consumer.ts'] }));
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    for (const config of ['tsconfig.node16.json', 'tsconfig.bundler.json']) {
      const r = run(process.execPath, [tsc, '-p', config, '--traceResolution'], app, true);
      expect(r.status, `${config}:\n${r.stdout.split('\n').filter((l) => /error TS/.test(l)).join('\n')}`).toBe(0);
      const resolved = r.stdout.split('\n').filter((l) => /Module name 'resgrad' was successfully resolved/.test(l));
      expect(resolved.length, config).toBeGreaterThan(0);
      for (const line of resolved) expect(line).toMatch(/node_modules\/resgrad\/dist\/(cjs\/)?types\/index\.d\.ts/);
    }
  });

  it('npx resgrad: help (bench, train, experiment), and a tiny real benchmark', () => {
    const help = run('npx', ['resgrad', '--help'], app).stdout;
    expect(help).toMatch(/bench\s/);
    expect(help).toMatch(/train\s/);
    expect(help).toMatch(/experiment\s/);
    expect(run('npx', ['resgrad', 'bench', '--help'], app).stdout).toMatch(/^usage: resgrad bench/);
    expect(run('npx', ['resgrad', 'experiment', '--help'], app).stdout).toMatch(/^usage: resgrad experiment/);
    const out = join(app, 'bench.json');
    run('npx', ['resgrad', 'bench', '--quick', '--filter', 'batchNorm forward', '--threads', '1', '--max-time', '0.02', '--json', out], app);
    const report = JSON.parse(readFileSync(out, 'utf8')) as { version: string; results: { status: string; variant: string }[] };
    expect(report.version).toBe(manifest.version);
    expect(report.results.length).toBeGreaterThan(0);
    for (const r of report.results) expect(r.status, r.variant).toBe('ok');
  });

  it('the bin warns when it is a build older than the sources beside it (a checkout), and only then', () => {
    const bin = join(src, 'dist', 'bin', 'resgrad.mjs');
    const stale = /warning: this is the build in dist\/, and (\S+) changed after it/;
    expect(run(process.execPath, [bin, 'bench', '--help'], src).stderr).not.toMatch(stale); // just built
    expect(run('npx', ['resgrad', 'bench', '--help'], app).stderr).not.toMatch(stale); // the package ships no sources
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(src, 'kernels', 'wasm', 'winograd.ts'), later, later);
    const r = run(process.execPath, [bin, 'bench', '--help'], src);
    expect(r.stderr).toMatch(stale);
    expect(r.stderr.match(stale)?.[1]).toBe(join('kernels', 'wasm', 'winograd.ts'));
    expect(r.stdout).toMatch(/^usage: resgrad bench/); // a warning, not a refusal
  });

  it('npx resgrad train: a tiny real run on the embedded subset shipped in the package', () => {
    expect(run('npx', ['resgrad', 'train', '--help'], app).stdout).toMatch(/^usage: resgrad train/);
    const out = join(app, 'run');
    run(
      'npx',
      ['resgrad', 'train', '--model', 'cifarResNet8', '--width', '4', '--source', 'subset', '--classes', '1,7', '--per-class', '8', '--test-per-class', '4', '--batch', '8', '--epochs', '1', '--threads', '1', '--quiet', '--out', out],
      app,
    );
    const written = readdirSync(out);
    for (const f of ['config.json', 'metrics.jsonl', 'model.safetensors', 'curves.svg']) expect(written, f).toContain(f);
  });
});
