// Non-finite values in the fused optimizer steps (one WASM pass per parameter, core/cpu/wasm.ts
// fusedSgdStep / fusedAdamStep) against the op-by-op optimizers (nn/optim with fused: false,
// torch 1.13's update written in tensor ops, the reference). Inf, -Inf and NaN are planted in
// the gradients of a step and in the starting parameters, at the ends of the 4-wide vectors and of
// the threads' shares (lengths 1, 3, 5, 17, 1001; 1 and 3 threads, every length split). After each
// of three steps, parameter and state buffers must have the reference's class per element (NaN,
// +Inf, -Inf, finite) and, where finite, its value within 2^-20 of (|value| + the array's largest
// finite |value|·2^-4), as test/kernels/wasm_optim.test.ts states; an element whose own inputs are
// all finite must stay exactly as in a clean run (no leak across lanes or threads' shares).
import { describe, expect, it } from 'vitest';
import { fusedSteps, wasmAvailable } from '../../core/cpu/wasm.js';
import { optim, type Tensor, tensor } from '../../index.js';
import { onThreads } from '../helpers/wasm.js';
import { classOf, PLANTS, Rng } from './nonfinite_helpers.js';

const LENGTHS = [1, 3, 5, 17, 1001];
const STEPS = 3;

type Make = (p: Tensor, fused: boolean) => { step(): void; state: Map<Tensor, unknown> };

const OPTIMIZERS: [string, Make][] = [
  ['SGD momentum=0.9 wd=1e-4', (p, fused) => new optim.SGD([p], { lr: 0.1, momentum: 0.9, weightDecay: 1e-4, fused })],
  ['SGD nesterov wd=5e-4', (p, fused) => new optim.SGD([p], { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 5e-4, fused })],
  ['SGD plain', (p, fused) => new optim.SGD([p], { lr: 0.1, fused })],
  ['Adam wd=1e-2 amsgrad', (p, fused) => new optim.Adam([p], { lr: 1e-2, weightDecay: 1e-2, amsgrad: true, fused })],
  ['AdamW', (p, fused) => new optim.AdamW([p], { lr: 1e-3, fused })],
  ['AdamW amsgrad maximize', (p, fused) => new optim.AdamW([p], { lr: 3e-3, amsgrad: true, maximize: true, fused })],
];

/** Every tensor of an optimizer's state for p (momentum buffer, exp averages, ...), by name. */
function stateArrays(opt: { state: Map<Tensor, unknown> }, p: Tensor): Record<string, Float32Array> {
  const st = (opt.state.get(p) ?? {}) as Record<string, unknown>;
  const out: Record<string, Float32Array> = { param: p.toArray() as Float32Array };
  for (const [k, v] of Object.entries(st)) if (v !== null && typeof v === 'object' && 'toArray' in v) out[k] = (v as Tensor).toArray() as Float32Array;
  return out;
}

/** Start values and per-step gradients, with planted positions (ends of vectors and of shares). */
function inputs(n: number, rng: Rng, planted: boolean): { start: Float32Array; grads: Float32Array[]; hit: Set<number> } {
  const start = Float32Array.from(rng.normals(n));
  const grads = Array.from({ length: STEPS }, () => Float32Array.from(rng.normals(n), (v) => 0.1 * v));
  const hit = new Set<number>();
  if (!planted) return { start, grads, hit };
  const spots = [0, n - 1, 3, 4, 7, 8, Math.floor(n / 3), Math.floor((2 * n) / 3)].filter((i) => i < n);
  for (let k = 0; k < Math.min(3, n); k++) {
    const i = rng.pick(spots);
    hit.add(i);
    if (rng.chance(0.3)) start[i] = rng.pick(PLANTS);
    else (grads[rng.int(0, STEPS - 1)] as Float32Array)[i] = rng.pick(PLANTS);
  }
  return { start, grads, hit };
}

/** Three steps from `start` with `grads`; the arrays after each step. */
function run(make: Make, fused: boolean, start: Float32Array, grads: Float32Array[]): Record<string, Float32Array>[] {
  const p = tensor(start.slice(), { shape: [start.length], requiresGrad: true });
  const opt = make(p, fused);
  return grads.map((g) => {
    p.grad = tensor(g.slice(), { shape: [g.length] });
    opt.step();
    return stateArrays(opt, p);
  });
}

function expectAsReference(label: string, fused: Float32Array, ref: Float32Array, clean: Float32Array, hit: Set<number>): void {
  expect(fused.length, `${label} length`).toBe(ref.length);
  let big = 0;
  for (const v of ref) if (Number.isFinite(v)) big = Math.max(big, Math.abs(v));
  for (let i = 0; i < ref.length; i++) {
    const a = fused[i] as number;
    const e = ref[i] as number;
    if (!hit.has(i) && !Object.is(a, clean[i]) && !(a === clean[i])) expect.fail(`${label} [${i}]: ${a} but ${clean[i]} in the clean run (leak)`);
    if (classOf(a) !== classOf(e)) expect.fail(`${label} [${i}]: ${a} where the op-by-op optimizer gives ${e}`);
    const tol = 2 ** -20 * (Math.abs(e) + big * 2 ** -4);
    if (classOf(a) === 'finite' && !(Math.abs(a - e) <= tol)) expect.fail(`${label} [${i}]: ${a} vs ${e} (tolerance ${tol})`);
  }
}

for (const threads of [1, 3]) {
  describe(`fused optimizer steps with non-finite gradients and parameters, ${threads} thread(s)`, () => {
    onThreads(threads);
    OPTIMIZERS.forEach(([name, make], k) => {
      it(`${name}: as the op-by-op step, element by element`, () => {
        expect(wasmAvailable(), 'the WASM runtime (the fused steps run there)').toBe(true);
        const rng = new Rng(100 * threads + k);
        for (const n of LENGTHS) {
          for (let t = 0; t < 2; t++) {
            const seed = rng.int(0, 1e6);
            const { start, grads, hit } = inputs(n, new Rng(seed), true);
            const clean = inputs(n, new Rng(seed), false);
            const before = fusedSteps.sgd + fusedSteps.adam;
            const fusedRun = run(make, true, start, grads);
            expect(fusedSteps.sgd + fusedSteps.adam - before, 'fused steps taken').toBe(STEPS);
            const cleanRun = run(make, true, clean.start, clean.grads);
            const refRun = run(make, false, start, grads);
            fusedRun.forEach((after, s) => {
              for (const key of Object.keys(refRun[s] ?? {})) {
                const label = `${name} n=${n} step ${s + 1} ${key} (planted at ${[...hit].join(', ')})`;
                expectAsReference(label, after[key] as Float32Array, refRun[s]?.[key] as Float32Array, cleanRun[s]?.[key] as Float32Array, hit);
              }
            });
          }
        }
      });
    });
  });
}
