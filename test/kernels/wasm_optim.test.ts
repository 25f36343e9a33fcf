// The WASM SIMD optimizer steps (kernels/wasm/optim.ts, source kernels/wasm/src/optim.wat) against
// the optimizers themselves (nn/optim: SGD, Adam, AdamW, which follow torch 1.13 with tensor ops),
// three steps in a row on float32 parameters, on 1, 2 and 3 threads (every length through the pool:
// minParallelElements = 0). Lengths 0, 1, 3, 4, 5, 17, 1001 and 70001 cover the four-wide loop,
// its scalar tail and uneven thread shares.
//
// Tolerance. Both sides round every product and sum to float32 in the same order; they differ
// only where a scalar (lr, momentum, 1 - dampening, betas, the bias corrections) is a double in
// the tensor ops and a float32 here, which moves each rounded result by at most an ulp or two. Over
// three steps that stays below ~10 ulps of the magnitudes involved: we allow
// |Δ| <= 2^-20·(|expected| + max|expected|·2^-4)
// (the second term covers entries that cancel towards 0). NaN in a gradient must reach exactly the
// entries it reaches in the reference (its own).
// Arrays that already live in the wasm memory are used in place (zero-copy) and must give the
// same bits as ordinary arrays, which are staged through the arena.

import { describe, expect, it } from 'vitest';
import { Generator } from '../../core/random.js';
import { tensor } from '../../index.js';
import { optim } from '../../index.js';
import type { Tensor } from '../../index.js';
import { wasmOffsetOf } from '../../kernels/wasm/elementwise.js';
import { adamStepWasm, type SgdStepOptions, sgdStepWasm } from '../../kernels/wasm/optim.js';
import { getWasm, } from '../../kernels/wasm/runtime.js';
import { inWasm, onThreads } from '../helpers/wasm.js';

const LENGTHS = [0, 1, 3, 4, 5, 17, 1001, 70001];
const STEPS = 3;

function normals(n: number, g: Generator, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => scale * g.normal());
}

function expectClose(actual: Float32Array, expected: Float32Array, label: string): void {
  expect(actual.length, `${label} length`).toBe(expected.length);
  let big = 0;
  for (const v of expected) if (Number.isFinite(v)) big = Math.max(big, Math.abs(v));
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    if (Number.isNaN(e) || Number.isNaN(a)) {
      if (Number.isNaN(e) !== Number.isNaN(a)) expect.fail(`${label} at ${i}: ${a} vs ${e}`);
      continue;
    }
    const tol = 2 ** -20 * (Math.abs(e) + big * 2 ** -4);
    if (!(Math.abs(a - e) <= tol)) expect.fail(`${label} at ${i}: ${a} vs ${e} (tolerance ${tol})`);
  }
}

/** A float32 leaf parameter holding `values`. */
const param = (values: Float32Array): Tensor => tensor(values.slice(), { shape: [values.length], requiresGrad: true });
const values = (t: Tensor): Float32Array => t.toArray() as Float32Array;

const SGD_CASES: SgdStepOptions[] = [
  { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false },
  { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 1e-4, nesterov: false, maximize: false },
  { lr: 0.05, momentum: 0.9, dampening: 0, weightDecay: 5e-4, nesterov: true, maximize: false },
  { lr: 0.3, momentum: 0.5, dampening: 0.1, weightDecay: 0, nesterov: false, maximize: true },
];

const sgdName = (o: SgdStepOptions): string =>
  `lr=${o.lr} momentum=${o.momentum} dampening=${o.dampening} wd=${o.weightDecay}${o.nesterov ? ' nesterov' : ''}${o.maximize ? ' maximize' : ''}`;

interface AdamCase {
  decoupled: boolean;
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
}

const ADAM_CASES: AdamCase[] = [
  { decoupled: false, lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false },
  { decoupled: false, lr: 1e-2, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 1e-2, amsgrad: true, maximize: false },
  { decoupled: true, lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, maximize: false },
  { decoupled: true, lr: 3e-3, betas: [0.5, 0.9], eps: 1e-8, weightDecay: 0.1, amsgrad: true, maximize: true },
];

const adamName = (o: AdamCase): string =>
  `${o.decoupled ? 'AdamW' : 'Adam'} lr=${o.lr} betas=${o.betas} eps=${o.eps} wd=${o.weightDecay}${o.amsgrad ? ' amsgrad' : ''}${o.maximize ? ' maximize' : ''}`;

/** Three SGD steps by optim.SGD and by sgdStepWasm from the same start and gradients. */
function checkSgd(n: number, o: SgdStepOptions, seed: number, nanAt = -1): void {
  const g = new Generator(seed);
  const start = normals(n, g);
  const grads = Array.from({ length: STEPS }, () => normals(n, g, 0.1));
  if (nanAt >= 0) (grads[1] as Float32Array)[nanAt] = Number.NaN;
  const p = param(start);
  const opt = new optim.SGD([p], { ...o, fused: false }); // the op-by-op path is the reference
  const theta = start.slice();
  const buf = new Float32Array(n);
  for (let s = 0; s < STEPS; s++) {
    p.grad = tensor((grads[s] as Float32Array).slice(), { shape: [n] });
    opt.step();
    sgdStepWasm(theta, grads[s] as Float32Array, o.momentum !== 0 ? buf : null, s === 0, o);
    expectClose(theta, values(p), `param after step ${s + 1}`);
    if (o.momentum !== 0) expectClose(buf, values(opt.state.get(p)!.momentumBuffer), `momentum buffer after step ${s + 1}`);
  }
}

/** Three Adam / AdamW steps by optim and by adamStepWasm. */
function checkAdam(n: number, o: AdamCase, seed: number, nanAt = -1): void {
  const g = new Generator(seed);
  const start = normals(n, g);
  const grads = Array.from({ length: STEPS }, () => normals(n, g, 0.1));
  if (nanAt >= 0) (grads[1] as Float32Array)[nanAt] = Number.NaN;
  const p = param(start);
  const { decoupled, ...opts } = o;
  const ref = { ...opts, fused: false }; // the op-by-op path is the reference
  const opt = decoupled ? new optim.AdamW([p], ref) : new optim.Adam([p], ref);
  const theta = start.slice();
  const m = new Float32Array(n);
  const v = new Float32Array(n);
  const vmax = o.amsgrad ? new Float32Array(n) : null;
  for (let s = 0; s < STEPS; s++) {
    p.grad = tensor((grads[s] as Float32Array).slice(), { shape: [n] });
    opt.step();
    adamStepWasm(theta, grads[s] as Float32Array, m, v, vmax, s + 1, o);
    const st = opt.state.get(p)!;
    expectClose(theta, values(p), `param after step ${s + 1}`);
    expectClose(m, values(st.expAvg), `expAvg after step ${s + 1}`);
    expectClose(v, values(st.expAvgSq), `expAvgSq after step ${s + 1}`);
    if (vmax) expectClose(vmax, values(st.maxExpAvgSq!), `maxExpAvgSq after step ${s + 1}`);
  }
}

for (const threads of [1, 2, 3]) {
  describe(`wasm optimizer steps, ${threads} thread(s)`, () => {
    onThreads(threads);


    SGD_CASES.forEach((o, k) => {
      for (const n of LENGTHS) {
        it(`SGD ${sgdName(o)} n=${n}: three steps as optim.SGD`, () => checkSgd(n, o, 31 * k + n));
      }
    });

    ADAM_CASES.forEach((o, k) => {
      for (const n of LENGTHS) {
        it(`${adamName(o)} n=${n}: three steps as optim`, () => checkAdam(n, o, 37 * k + n));
      }
    });

    it('a NaN gradient reaches only its own entry (SGD with momentum, AdamW with amsgrad)', () => {
      checkSgd(1001, SGD_CASES[1] as SgdStepOptions, 5, 500);
      checkAdam(1001, ADAM_CASES[3] as AdamCase, 6, 998);
    });
  });
}


describe('wasm optimizer steps on arrays that live in the wasm memory (zero-copy)', () => {
  it('n=70001: SGD and Adam update param and state where they are, as on ordinary arrays', () => {
    const rt = getWasm()!;
    const mark = rt.mark();
    try {
      const g = new Generator(3);
      const p0 = normals(70001, g);
      const g0 = normals(70001, g, 0.1);
      const o: SgdStepOptions = { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 1e-4, nesterov: true, maximize: false };
      const pRef = p0.slice();
      const bRef = new Float32Array(70001);
      const [p, grad, b, q, m, v] = inWasm(p0, g0, new Float32Array(70001), p0, new Float32Array(70001), new Float32Array(70001));
      for (const first of [true, false]) {
        sgdStepWasm(pRef, g0, bRef, first, o);
        sgdStepWasm(p!, grad!, b!, first, o);
      }
      const same = (a: Float32Array, c: Float32Array): boolean => a.every((x, i) => Object.is(x, c[i]));
      expect([same(p!, pRef), same(b!, bRef)]).toEqual([true, true]);
      const adam = { lr: 1e-3, betas: [0.9, 0.999] as const, eps: 1e-8, weightDecay: 1e-2, amsgrad: false, maximize: false, decoupled: true };
      const qRef = p0.slice();
      const mRef = new Float32Array(70001);
      const vRef = new Float32Array(70001);
      adamStepWasm(qRef, g0, mRef, vRef, null, 1, adam);
      adamStepWasm(q!, grad!, m!, v!, null, 1, adam);
      expect([same(q!, qRef), same(m!, mRef), same(v!, vRef)]).toEqual([true, true, true]);
      expect(wasmOffsetOf(rt.memory.buffer, p!)).toBeGreaterThanOrEqual(0); // no growth: nothing was staged
      expect(() => sgdStepWasm(p!, grad!, p!, false, o)).toThrow(/sgdStepWasm: param and momentumBuffer share bytes of the wasm memory/);
    } finally {
      rt.release(mark);
    }
  });
});

describe('wasm optimizer arguments', () => {
  const sgd: SgdStepOptions = { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false, maximize: false };
  const p = new Float32Array(4);

  it('errors name the argument, the expected and the actual value', () => {
    expect(() => sgdStepWasm(p, new Float32Array(3), new Float32Array(4), true, sgd)).toThrow(/sgdStepWasm: grad must have 4 elements \(as many as param\), got 3/);
    expect(() => sgdStepWasm(p, p, null, false, sgd)).toThrow(/sgdStepWasm: momentumBuffer must be a Float32Array when o.momentum is 0.9, got null/);
    expect(() => sgdStepWasm(p, p, p, false, { ...sgd, nesterov: true, dampening: 0.1 })).toThrow(/nesterov needs momentum > 0 and dampening 0/);
    expect(() => sgdStepWasm(p, p, p, false, { ...sgd, lr: -1 })).toThrow(/sgdStepWasm: o.lr must be a number >= 0, got -1/);
    const adam = { lr: 1e-3, betas: [0.9, 0.999] as const, eps: 1e-8, weightDecay: 0, amsgrad: true, maximize: false, decoupled: false };
    expect(() => adamStepWasm(p, p, p, p, null, 1, adam)).toThrow(/adamStepWasm: maxExpAvgSq must be a Float32Array when o.amsgrad is true, got null/);
    expect(() => adamStepWasm(p, p, p, p, p, 0, adam)).toThrow(/adamStepWasm: step must be an integer >= 1, got 0/);
    expect(() => adamStepWasm(p, p, p, p, p, 1, { ...adam, betas: [0.9, 1] })).toThrow(/adamStepWasm: o.betas\[1\] must be in \[0, 1\), got 1/);
  });
});
