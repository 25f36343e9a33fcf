// Same seed, same bits. Child processes train a small ResNet (cifarResNet(8), width 8, grouped
// first convs, 16x16 inputs: im2col, Winograd and grouped convolutions, BatchNorm, pooling, the
// linear head and SGD with momentum all run) for a few steps inside tidy() and print every
// parameter and buffer as bytes. Two processes with the same seed must agree bit for bit, and so
// must 1 and 2 threads, with every kernel forced to split its work (single-thread cut-offs 0)
// and both GEMM splits (the static one and the shared packed panel).
//
// The Winograd weight gradient (wino_bwd_weight) sums a fixed number of partials, chosen from the
// sizes and never from the thread count, in order: it is in the thread-count runs like the rest.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
// The child's script is a file: code given to `node --input-type=module --eval` would hand that
// flag to the WASM pool's worker threads too (they inherit execArgv), and their CommonJS source
// then fails to start.
const scratch = mkdtempSync(join(tmpdir(), 'resgrad-reliability-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface RunConfig {
  seed: number;
  threads: number;
  /** Single-thread cut-offs 0: every kernel splits its work among the threads. */
  splitAll?: boolean;
  /** GEMMs of any size take the shared packed panel instead of the static split. */
  sharedPanel?: boolean;
}

interface RunResult {
  /** name -> base64 of the tensor's bytes, before and after training */
  initial: Record<string, string>;
  final: Record<string, string>;
  /** base64 of the float32 losses */
  losses: string;
  /** kernel name -> the variants that ran in the first step */
  variants: Record<string, string[]>;
  describe: string;
}

const STEPS = 3;

// Runs in the child (ESM, TypeScript sources through tsx's loader).
const CHILD = `
const cfg = JSON.parse(process.env.RESGRAD_DETERMINISM);
const at = (p) => new URL(p, cfg.root).href;
const r = await import(at('index.ts'));
const { wasmTuning } = await import(at('kernels/wasm/gemm.ts'));
const { wasmMemoryTuning } = await import(at('kernels/wasm/elementwise.ts'));
r.setNumThreads(cfg.threads);
if (cfg.splitAll) { wasmTuning.minParallelMacs = 0; wasmMemoryTuning.minParallelElements = 0; }
if (cfg.sharedPanel) wasmTuning.gemmStaticMaxMacs = 0;
r.manualSeed(cfg.seed);
const model = r.models.cifarResNet(8, { width: 8, groups: 2 });
const opt = new r.optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 });
const x = r.randn([8, 3, 16, 16]);
const y = r.randint(0, 10, [8]);
const bytes = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
const state = () => Object.fromEntries(Object.entries(model.stateDict()).map(([k, t]) => [k, bytes(t.contiguous().toArray())]));
const initial = state();
const step = () => r.tidy(() => {
  opt.zeroGrad();
  const loss = r.F.crossEntropy(model.forward(x), y);
  loss.backward();
  opt.step();
  return loss.detach();
});
const first = r.variants.trace(step);
const losses = [first.result.toArray()[0]];
for (let i = 1; i < ${STEPS}; i++) losses.push(step().toArray()[0]);
const variants = Object.fromEntries([...first.used].map(([k, v]) => [k, [...v].sort()]));
console.log(JSON.stringify({ initial, final: state(), losses: bytes(Float32Array.from(losses)), variants, describe: r.variants.describe() }));
`;

const childScript = () => {
  const file = join(scratch, 'determinism-child.mjs');
  writeFileSync(file, CHILD);
  return file;
};

function train(cfg: RunConfig): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, RESGRAD_DETERMINISM: JSON.stringify({ ...cfg, root: pathToFileURL(root).href }) };
    delete env.RESGRAD_NUM_THREADS;
    const child = spawn(process.execPath, ['--import', 'tsx', childScript()], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`training child ${JSON.stringify(cfg)} exited ${code}:\n${err.slice(-3000)}`));
      else resolve(JSON.parse(out) as RunResult);
    });
  });
}

/** The names whose bytes differ between a and b (empty when identical); the two must name the same tensors. */
function differing(a: Record<string, string>, b: Record<string, string>): string[] {
  expect(Object.keys(b)).toEqual(Object.keys(a));
  return Object.keys(a).filter((k) => a[k] !== b[k]);
}

/** Every tensor that training changes (parameters, running statistics) did change: the bytes compared are live. */
function expectTrained(r: RunResult): void {
  const unchanged = Object.keys(r.final).filter((k) => r.final[k] === r.initial[k] && !k.endsWith('num_batches_tracked'));
  expect(unchanged, 'tensors training left unchanged').toEqual([]);
}

describe('same seed, same bits', () => {
  it(`two processes, same seed, 2 threads: cifarResNet(8) after ${STEPS} SGD steps in tidy() is bit-identical`, async () => {
    const [a, b] = await Promise.all([train({ seed: 7, threads: 2 }), train({ seed: 7, threads: 2 })]);
    expectTrained(a);
    // the net exercises what it should: Winograd and im2col convolutions, grouped ones, BatchNorm
    expect(a.variants.conv2d?.join(' ')).toMatch(/winograd/);
    expect(a.variants.conv2d?.join(' ')).toMatch(/im2col/);
    expect(a.variants.conv2d?.join(' ')).toMatch(/grouped/);
    expect(differing(a.final, b.final), 'tensors that differ between the two processes').toEqual([]);
    expect(b.losses).toBe(a.losses);
  }, 180_000);

  it('1 thread vs 2 threads, every kernel split, static and shared-panel GEMM, Winograd weight gradients: bit-identical', async () => {
    const base = { seed: 7 } as const;
    const one = await train({ ...base, threads: 1 });
    const split = await train({ ...base, threads: 2, splitAll: true });
    const shared = await train({ ...base, threads: 2, splitAll: true, sharedPanel: true });
    expectTrained(one);
    expect(split.describe).toMatch(/2 threads/);
    expect(differing(one.final, split.final), '1 vs 2 threads (static GEMM split): tensors that differ').toEqual([]);
    expect(differing(one.final, shared.final), '1 vs 2 threads (shared-panel GEMM): tensors that differ').toEqual([]);
    expect(split.losses).toBe(one.losses);
    expect(shared.losses).toBe(one.losses);
  }, 240_000);
});
