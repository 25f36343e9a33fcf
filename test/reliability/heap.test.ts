// 1,000 CPU training steps of a small ResNet (cifarResNet(8) at width 4 on 2 images of 8x8, SGD
// with momentum), once inside tidy() and once outside, each in a child process run with
// --expose-gc. Every 100 steps the child collects garbage and samples the memory; the first
// WARM_UP steps fill the caches (kernel variants, the WASM heap's free lists, V8's baseline code),
// and from there on what must stay flat, and why these bounds:
//  - live Tensor and Storage objects (v8.queryObjects, after GC), step 1000 vs step WARM_UP:
//    exactly equal. A step that keeps anything (a graph, a saved activation, a loss) adds at
//    least one of each per step. The planted leak below (one kept loss a step) must be seen.
//  - memory that does not come back, as growth of the lowest sample: min over steps 800-1000
//    minus min over steps 200-400. After a GC, heapUsed jumps up and back by ~200 KiB from one
//    sample to the next (transient, measured), which a minimum ignores; a leak of L bytes a step
//    lifts every later sample, so this growth is at least 400 L.
//    ArrayBuffer bytes (typed arrays outside the WASM memory): within 64 KiB. Measured: flat to
//    the byte. A kept activation of this net is >= 512 bytes (2 images x 4 channels x 8 x 8
//    floats), so a leak of one a step grows it by >= 200 KiB.
//    V8's heapUsed: within 128 KiB; measured 1-30 KiB. The children run with --no-opt: with
//    TurboFan on, V8 keeps optimizing and deoptimizing the hot code for thousands of steps and
//    heapUsed grows by 0.7-0.9 MiB over these 800 (a heap-snapshot diff between steps 500 and
//    2,500 holds only code objects, deopt data, relocation info and source positions, no object
//    of ours), which would hide a leak of ~1 KiB a step. At 128 KiB a leak of plain JS objects
//    (closures, arrays, graph nodes) of more than ~330 bytes a step fails; smaller leaks of
//    tensors are caught by the exact counts.
//  - the WASM memory: not one byte of growth after warm-up, and inside tidy() no heap block left
//    live between steps (core/cpu/wasm_heap.ts: the scope frees what the step made).
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

const STEPS = 1000;
const EVERY = 100;
const ARRAY_BUFFER_BOUND = 64 * 1024;
const HEAP_BOUND = 128 * 1024;
const WARM_UP = 200;
const LEAK_STEPS = 200;

interface Sample {
  step: number;
  heapUsed: number;
  arrayBuffers: number;
  wasmBytes: number;
  /** core/cpu/wasm_heap.ts stats (null where the WASM heap is not used) */
  wasmHeap: { reservedBytes: number; liveBytes: number; liveBlocks: number; freeBlocks: number } | null;
}

interface Counts {
  tensors: number;
  storages: number;
}

interface HeapRun {
  samples: Sample[];
  counts: Record<string, Counts>;
}

// Runs in the child (ESM, TypeScript sources through tsx's loader).
const CHILD = `
const cfg = JSON.parse(process.env.RESGRAD_HEAP);
const at = (p) => new URL(p, cfg.root).href;
const v8 = await import('node:v8');
const r = await import(at('index.ts'));
const { getWasm } = await import(at('kernels/wasm/runtime.ts'));
const { wasmHeap } = await import(at('core/cpu/wasm.ts'));
r.manualSeed(0);
const model = r.models.cifarResNet(8, { width: 4 });
const opt = new r.optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
const x = r.randn([2, 3, 8, 8]);
const y = r.randint(0, 10, [2]);
function step() {
  opt.zeroGrad();
  const loss = r.F.crossEntropy(model.forward(x), y);
  loss.backward();
  opt.step();
  return loss.detach();
}
const run = cfg.tidy ? () => r.tidy(step) : step;
async function collect() {
  globalThis.gc();
  await new Promise((done) => setImmediate(done)); // let finalizers run, then collect what they freed
  globalThis.gc();
}
const count = () => ({ tensors: v8.queryObjects(r.Tensor, { format: 'count' }), storages: v8.queryObjects(r.Storage, { format: 'count' }) });
const samples = [];
const counts = {};
for (let s = 1; s <= cfg.steps; s++) {
  run();
  if (s % cfg.every === 0) {
    await collect();
    const m = process.memoryUsage();
    samples.push({ step: s, heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers, wasmBytes: getWasm()?.memory.buffer.byteLength ?? 0, wasmHeap: wasmHeap()?.stats() ?? null });
    if (s === cfg.warmUp || s === cfg.steps) counts[s] = count();
  }
}
if (cfg.leakSteps > 0) {
  // the control: a loop that keeps each step's loss, as a leaking training loop would
  const kept = [];
  for (let s = 0; s < cfg.leakSteps; s++) kept.push(run());
  await collect();
  counts.leak = count();
  if (kept.length !== cfg.leakSteps) throw new Error('kept');
}
console.log(JSON.stringify({ samples, counts }));
`;

const childScript = () => {
  const file = join(scratch, 'heap-child.mjs');
  writeFileSync(file, CHILD);
  return file;
};

function train(tidy: boolean, leakSteps: number): Promise<HeapRun> {
  return new Promise((resolve, reject) => {
    const cfg = { root: pathToFileURL(root).href, tidy, steps: STEPS, every: EVERY, warmUp: WARM_UP, leakSteps };
    const env = { ...process.env, RESGRAD_HEAP: JSON.stringify(cfg) };
    const args = ['--expose-gc', '--no-opt', '--disable-warning=ExperimentalWarning', '--import', 'tsx', childScript()];
    const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
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
      if (code !== 0) reject(new Error(`training child (tidy: ${tidy}) exited ${code}:\n${err.slice(-3000)}`));
      else resolve(JSON.parse(out) as HeapRun);
    });
  });
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

function expectFlat(run: HeapRun, tidy: boolean): void {
  expect(run.samples.map((s) => s.step)).toEqual(Array.from({ length: STEPS / EVERY }, (_, i) => (i + 1) * EVERY));
  const warm = run.counts[WARM_UP] as Counts;
  expect(run.counts[STEPS], `live Tensor/Storage objects at step ${STEPS} vs step ${WARM_UP}`).toEqual(warm);
  const table = run.samples.map((s) => `step ${s.step}: heapUsed ${kib(s.heapUsed)}, arrayBuffers ${kib(s.arrayBuffers)}, wasm ${kib(s.wasmBytes)}`).join('\n');
  const first = run.samples.find((s) => s.step === WARM_UP) as Sample;
  for (const s of run.samples.filter((x) => x.step >= WARM_UP)) expect(s.wasmBytes, `WASM memory grew after warm-up\n${table}`).toBe(first.wasmBytes);
  const lowest = (key: 'heapUsed' | 'arrayBuffers', from: number, to: number) =>
    Math.min(...run.samples.filter((s) => s.step >= from && s.step <= to).map((s) => s[key]));
  const growth = (key: 'heapUsed' | 'arrayBuffers') => lowest(key, STEPS - 200, STEPS) - lowest(key, WARM_UP, WARM_UP + 200);
  expect(growth('arrayBuffers'), `ArrayBuffer bytes that do not come back (bound ${kib(ARRAY_BUFFER_BOUND)})\n${table}`).toBeLessThanOrEqual(ARRAY_BUFFER_BOUND);
  expect(growth('heapUsed'), `heapUsed that does not come back (bound ${kib(HEAP_BOUND)})\n${table}`).toBeLessThanOrEqual(HEAP_BOUND);
  if (tidy) {
    for (const s of run.samples) {
      expect(s.wasmHeap, 'inside tidy() the outputs live in the WASM heap').not.toBeNull();
      expect(s.wasmHeap?.liveBlocks, `WASM heap blocks live between steps at step ${s.step}`).toBe(0);
      if (s.step >= WARM_UP) {
        expect(s.wasmHeap?.reservedBytes).toBe(first.wasmHeap?.reservedBytes);
        expect(s.wasmHeap?.freeBlocks).toBe(first.wasmHeap?.freeBlocks);
      }
    }
  }
}

describe(`heap after GC over ${STEPS} CPU training steps`, () => {
  it(`inside tidy() and outside it: live tensors exactly flat, ArrayBuffers within ${kib(ARRAY_BUFFER_BOUND)}, WASM memory flat, heapUsed within ${kib(HEAP_BOUND)}; a planted leak is seen`, async () => {
    const [inTidy, plain] = await Promise.all([train(true, 0), train(false, LEAK_STEPS)]);
    expectFlat(inTidy, true);
    expectFlat(plain, false);
    // the control: keeping one loss a step shows up, one tensor and one storage per step
    const warm = plain.counts[STEPS] as Counts;
    expect(plain.counts.leak).toEqual({ tensors: warm.tensors + LEAK_STEPS, storages: warm.storages + LEAK_STEPS });
  }, 300_000);
});
