// Non-finite values stay where they belong: every CPU kernel name and every variant that takes a
// call (the registry's own list, so a new variant is tested the day it registers), on seeded
// inputs with Inf, -Inf and NaN planted at random positions, biased to plane edges (next to the
// padding) and to the edges of blocked tiles (sizes are rarely multiples of 4 or 8; batch 1 and
// more). For every output element (see nonfinite_helpers.ts):
//   1. if it may depend on a planted element: the reference's class (NaN / +Inf / -Inf / finite)
//      and, when finite, its value within the stated tolerance;
//   2. otherwise: the value of the same variant's clean run, within the same tolerance (no leak into other rows,
//      columns, channels, sets or images; the usual culprit is a blocked kernel whose padded edge
//      tile computes Inf·0 = NaN and writes it back).
// The reference is held to torch 1.13 by nonfinite_oracle.test.ts.
//
// Tolerances on finite values (they are tested to the last bit elsewhere; here they only show
// that a planted value did not disturb its neighbours' arithmetic): float64 1e-12 relative;
// float32 sums of products 2^-14 of (|reference| + the output's largest clean |value| + 1)
// (float32 accumulation over at most a few hundred terms, against the float64-accumulating
// reference); norms 2^-12 (the statistics of a set are reductions too); Winograd 2^-10 (its
// transforms grow the rounding by the tile's magnitudes).
// WASM kernels also run on 3 threads with every size split among them (test/helpers/wasm.ts).
import { describe, expect, it } from 'vitest';
import { type CpuVariant, cpuKernelNames, cpuVariants } from '../../core/cpu/registry.js';
import { wasmAvailable, wasmRelaxed } from '../../core/cpu/wasm.js';
import type { KernelAttrMap, KernelName } from '../../core/kernel_names.js';
import '../../index.js';
import { BINARY_OPS, UNARY_OPS } from '../../kernels/cpu/elementwise.js';
import type { NormAxes, NormLayout } from '../../kernels/geometry.js';
import { numSets } from '../../kernels/geometry.js';
import { winogradTuning } from '../../kernels/wasm/winograd.js';
import type { Conv2dOptions } from '../../nn/ops/conv.js';
import { onThreads, winogradAtEverySize } from '../helpers/wasm.js';
import {
  adaptivePoolCases,
  avgPoolCases,
  convCases,
  matmulCase,
  maxPoolCases,
  normCases,
  type PoolOptions,
  poolGeometry,
  sameElement,
  viewCases,
} from './nonfinite_cases.js';
import { type FloatDType, type KernelCase, type Operand, Rng, checkCase, dense, masks, plant, sumTol } from './nonfinite_helpers.js';

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Variants seen per kernel over the whole file: every variant of every covered kernel must run. */
const seen = new Map<KernelName, Set<string>>();

/** Plant `plants` times into a case and check every variant; note which ran. */
function property(rng: Rng, c: KernelCase, plants = 2): void {
  for (let t = 0; t < plants; t++) {
    const names = checkCase(c, plant(rng, c));
    const s = seen.get(c.kernel) ?? new Set<string>();
    for (const n of names) s.add(n);
    seen.set(c.kernel, s);
  }
}

// ---- case generators ---------------------------------------------------------------------------

function matmulCases(rng: Rng, dtype: FloatDType): KernelCase[] {
  const out: KernelCase[] = [];
  // small odd sizes, one dim past a blocking boundary (TS: MC 64, KC 256; WASM: MC 128, KC 256),
  // and one past wasmTuning.gemmStaticMaxMacs (2^21), where threads share packed B panels
  const shapes: [number, number, number, number][] = [[1, 1, 1, 1], [1, 5, 7, 9], [2, 3, 4, 8], [1, 130, 5, 9], [1, 5, 260, 6], [3, 9, 13, 11], [1, 4, 8, 4], [2, 17, 3, 1], [1, 131, 261, 70]];
  for (const [B, M, K, N] of shapes) {
    out.push(matmulCase(dtype, B, M, K, N, rng.normals(B * M * K), rng.normals(B * K * N), rng.chance(0.3)));
  }
  return out;
}

interface ConvConfig {
  x: number[];
  w: number[];
  o: Conv2dOptions;
}

/** A random conv of one family: 3x3 s1 (Winograd's), any dense, grouped, depthwise, pointwise. */
function convConfig(rng: Rng, family: 'winograd' | 'dense' | 'grouped' | 'depthwise' | 'pointwise'): ConvConfig {
  const n = rng.pick([1, 1, 2, 3]);
  let k = 3;
  let s = 1;
  let d = 1;
  let p: Conv2dOptions['padding'] = rng.pick([0, 1, 1, 2]);
  let groups = 1;
  let c = rng.int(1, 5);
  let o = rng.int(1, 6);
  if (family === 'winograd') p = rng.pick([0, 1, 1, 'same']);
  if (family === 'dense') {
    k = rng.pick([1, 2, 3, 5]);
    s = rng.pick([1, 2, 3]);
    d = rng.pick([1, 1, 2]);
    p = rng.int(0, 2);
  }
  if (family === 'grouped') {
    groups = rng.int(2, 3);
    c = groups * rng.int(1, 3);
    o = groups * rng.int(1, 3);
    k = rng.pick([1, 3]);
    s = rng.pick([1, 2]);
  }
  if (family === 'depthwise') {
    c = rng.int(2, 5);
    groups = c;
    o = c * rng.int(1, 2);
    k = rng.pick([3, 5]);
    s = rng.pick([1, 2]);
    d = rng.pick([1, 2]);
  }
  if (family === 'pointwise') {
    k = 1;
    p = 0;
  }
  const need = d * (k - 1) + 1 - 2 * (typeof p === 'number' ? p : 0);
  const h = rng.int(Math.max(need, 2), 10);
  const w = rng.int(Math.max(need, 2), 10);
  return { x: [n, c, h, w], w: [o, c / groups, k, k], o: { stride: s, padding: p, dilation: d, groups } };
}

function convFamily(rng: Rng, dtype: FloatDType, family: Parameters<typeof convConfig>[1]): KernelCase[] {
  const { x, w, o } = convConfig(rng, family);
  const cases = convCases(dtype, x, w, o, { x: rng.normals(numel(x)), w: rng.normals(numel(w)), b: rng.chance(0.7) ? rng.normals(w[0] as number) : null, dy: new Float64Array(0) }, family === 'winograd' ? 2 ** -10 : undefined);
  // dy has the output's shape, known once the geometry is: rebuild the backward inputs with it
  const dyShape = cases[1]?.inputs[0]?.shape as number[];
  const dy = rng.normals(numel(dyShape));
  for (const c of cases) for (const t of c.inputs) if (t.values.length === 0) Object.assign(t, dense(dy, dyShape, dtype));
  return cases;
}

/** A random pooling geometry with at least one output per axis (torch's pad <= k/2). */
function poolOptions(rng: Rng, shape: number[]): PoolOptions {
  for (;;) {
    const k: [number, number] = [rng.int(2, 3), rng.int(1, 3)];
    const o: PoolOptions = {
      k,
      s: [rng.int(1, 3), rng.int(1, 2)],
      p: [rng.int(0, Math.floor(k[0] / 2)), rng.int(0, Math.floor(k[1] / 2))],
      d: [rng.int(1, 2), 1],
      ceil: rng.chance(0.4),
    };
    const g = poolGeometry(shape, o);
    if (g.oh >= 1 && g.ow >= 1) return o;
  }
}

function poolCases(rng: Rng, dtype: FloatDType): KernelCase[] {
  const n = rng.pick([1, 2]);
  const c = rng.int(1, 3);
  const shape = [n, c, rng.int(3, 9), rng.int(3, 9)];
  const o = poolOptions(rng, shape);
  const x = rng.normals(numel(shape));
  // the indices the backward routes by: the reference forward of x with values planted (NaN wins its window)
  const fwd = maxPoolCases(dtype, shape, o, x, new Float64Array(0), new Int32Array(0))[0] as KernelCase;
  const planted = plant(rng, fwd).inputs[0] as Operand;
  const ref = cpuVariants('maxPool2d').at(-1) as CpuVariant;
  const input = { buffer: Float64Array.from(planted.values), dtype: 'float64', shape, strides: planted.strides, offset: 0 } as const;
  const idx = ref.run([input], fwd.attrs as never)[1]?.buffer as Int32Array;
  const g = poolGeometry(shape, o);
  const avgOpts: PoolOptions = { ...o, d: [1, 1] };
  const ag = poolGeometry(shape, avgOpts);
  const options = { countIncludePad: rng.chance(0.5), divisorOverride: rng.chance(0.2) ? 3 : 0 };
  const [oh, ow] = [rng.int(1, shape[2] as number), rng.int(1, shape[3] as number)];
  return [
    ...maxPoolCases(dtype, shape, o, x, rng.normals(n * c * g.oh * g.ow), idx),
    ...avgPoolCases(dtype, shape, avgOpts, options, x, rng.normals(n * c * ag.oh * ag.ow)),
    ...adaptivePoolCases(dtype, shape, oh, ow, x, rng.normals(n * c * oh * ow)),
  ];
}

function normFamily(rng: Rng, dtype: FloatDType, axes: NormAxes): KernelCase[] {
  const N = rng.int(1, 3);
  const G = axes === 'group' ? rng.int(1, 3) : 1;
  const C = axes === 'group' ? G * rng.int(1, 3) : rng.int(1, 5);
  const S = axes === 'layer' ? 1 : rng.int(axes === 'batch' && N === 1 ? 2 : 1, 9);
  const l: NormLayout = { axes, N, C, S, groups: G };
  const sets = numSets(l);
  const size = N * C * S;
  const x = rng.normals(size);
  // running statistics (apply, and the backward with given statistics): variances in [0.5, ...)
  const running = { mean: rng.normals(sets), variance: Float64Array.from(rng.normals(sets), (v) => 0.5 + v * v) };
  const eps = 1e-5;
  const weight = rng.chance(0.7) ? rng.normals(C) : null;
  const bias = rng.chance(0.7) ? rng.normals(C) : null;
  // the batch statistics the backward gets: the reference forward's on the clean x
  const ref = cpuVariants('normForward').at(-1) as CpuVariant;
  const input = { buffer: Float64Array.from(x), dtype: 'float64', shape: [N, C, S], strides: [C * S, S, 1], offset: 0 } as const;
  const [, mean, variance] = ref.run([input], { ...l, eps, hasWeight: false, hasBias: false } as never);
  const batch = { mean: Float64Array.from(mean?.buffer as Float64Array), variance: Float64Array.from(variance?.buffer as Float64Array) };
  return normCases(dtype, l, eps, { x, gy: rng.normals(size), weight, bias, ...running }, batch);
}

function elementwiseCases(rng: Rng, dtype: FloatDType): KernelCase[] {
  const out: KernelCase[] = [];
  const shape = rng.pick([[1], [7], [3, 5], [2, 3, 4, 5], [33], [9, 8]]);
  const n = numel(shape);
  const strided = shape.length === 2 && rng.chance(0.5);
  // a transposed view of a [cols, rows] buffer reads shape [rows, cols] through strides
  const A = strided ? { values: rng.normals(n), shape, strides: [1, shape[0] as number], offset: 0, dtype } : dense(rng.normals(n), shape, dtype);
  const tol = (): { atol: number; rtol: number } => ({ atol: 0, rtol: dtype === 'float32' ? 2 ** -22 : 1e-15 });
  for (const op of Object.keys(UNARY_OPS) as KernelAttrMap['unary']['op'][]) {
    out.push({ label: `${op} [${shape}]${strided ? ' strided' : ''} ${dtype}`, kernel: 'unary', attrs: { op }, inputs: [A], plantable: [0], taint: sameElement(n), tol });
  }
  for (const op of Object.keys(BINARY_OPS) as KernelAttrMap['binary']['op'][]) {
    out.push({ label: `${op} [${shape}]${strided ? ' strided' : ''} ${dtype}`, kernel: 'binary', attrs: { op, dtype }, inputs: [A, dense(rng.normals(n), shape, dtype)], plantable: [0, 1], taint: sameElement(n), tol });
  }
  out.push({ label: `copy [${shape}]${strided ? ' strided' : ''} ${dtype}`, kernel: 'copy', attrs: {}, inputs: [A], plantable: [0], taint: sameElement(n), tol });
  return out;
}

function reduceCases(rng: Rng, dtype: FloatDType): KernelCase[] {
  const shape = rng.pick([[5], [3, 4], [2, 3, 5], [2, 1, 9]]);
  const x = dense(rng.normals(numel(shape)), shape, dtype);
  const dims = shape.map((_, d) => d).filter(() => rng.chance(0.5));
  if (dims.length === 0) dims.push(shape.length - 1);
  const outShape = shape.map((s, d) => (dims.includes(d) ? 1 : s));
  // output element = x's index with the reduced dims at 0
  const taintReduce = ([px]: Set<number>[]): Uint8Array[] => {
    const [m] = masks([numel(outShape)]) as [Uint8Array];
    for (const e of px ?? []) {
      let rem = e;
      let o = 0;
      let mul = 1;
      for (let d = shape.length - 1; d >= 0; d--) {
        const i = rem % (shape[d] as number);
        rem = Math.floor(rem / (shape[d] as number));
        if (!dims.includes(d)) o += i * mul;
        mul *= outShape[d] as number;
      }
      m[o] = 1;
    }
    return [m];
  };
  const dim = rng.int(0, shape.length - 1);
  const taintSlice = ([px]: Set<number>[]): Uint8Array[] => {
    const [m] = masks([numel(shape)]) as [Uint8Array];
    const inner = numel(shape.slice(dim + 1));
    const len = shape[dim] as number;
    for (const e of px ?? []) {
      const base = e - (Math.floor(e / inner) % len) * inner;
      for (let i = 0; i < len; i++) m[base + i * inner] = 1;
    }
    return [m];
  };
  const label = `x=[${shape}] dims=[${dims}] ${dtype}`;
  return [
    ...(['sum', 'max', 'min', 'prod'] as const).map((op): KernelCase => ({ label: `${op} ${label}`, kernel: 'reduce', attrs: { op, dims }, inputs: [x], plantable: [0], taint: taintReduce, tol: sumTol(dtype) })),
    ...[false, true].map((log): KernelCase => ({ label: `${log ? 'logSoftmax' : 'softmax'} x=[${shape}] dim=${dim} ${dtype}`, kernel: 'softmax', attrs: { dim, log }, inputs: [x], plantable: [0], taint: taintSlice, tol: sumTol(dtype) })),
  ];
}

// ---- the tests ---------------------------------------------------------------------------------

const DTYPES: FloatDType[] = ['float32', 'float64'];

// A longer hunt: NONFINITE_ROUNDS=20 NONFINITE_SEED=7 npx vitest run test/reliability/ (CI runs 1 and 0).
const STRESS = { rounds: Number(process.env.NONFINITE_ROUNDS ?? 1), seed: Number(process.env.NONFINITE_SEED ?? 0) };

/** Kernels this file covers; every kernel with more than one variant must be among them. */
const COVERED: KernelName[] = [
  'matmul', 'conv2d', 'conv2dBackwardInput', 'conv2dBackwardWeight', 'conv2dBackwardBias',
  'maxPool2d', 'maxPool2dBackward', 'avgPool2d', 'avgPool2dBackward', 'adaptiveAvgPool2d', 'adaptiveAvgPool2dBackward',
  'normForward', 'normApply', 'normBackward', 'unary', 'binary', 'copy', 'scatterView', 'cat', 'reduce', 'softmax',
];

for (const threads of [1, 3]) {
  describe(`non-finite inputs, every kernel variant against the reference, ${threads} thread(s)`, () => {
    onThreads(threads);
    const saved = winogradAtEverySize();
    const seed = 1000 * threads + STRESS.seed;
    const rounds = (threads === 1 ? 1 : 0.5) * STRESS.rounds;

    for (const dtype of DTYPES) {
      it(`matmul (GEMM), odd and blocking-edge sizes, ${dtype}`, () => {
        const rng = new Rng(seed + 1);
        for (let i = 0; i < Math.ceil(STRESS.rounds); i++) for (const c of matmulCases(rng, dtype)) property(rng, c, 3);
      });

      for (const family of ['winograd', 'dense', 'grouped', 'depthwise', 'pointwise'] as const) {
        it(`conv2d forward, dX, dW, db: ${family}, ${dtype}`, () => {
          const rng = new Rng(seed + 2 + family.length);
          const count = Math.ceil((family === 'dense' ? 8 : 5) * rounds);
          for (let i = 0; i < count; i++) {
            for (const c of convFamily(rng, dtype, family)) {
              if (family === 'winograd') {
                for (const fused of [true, false]) {
                  winogradTuning.fused = fused;
                  property(rng, c, 2);
                }
                winogradTuning.fused = saved.fused;
              } else property(rng, c, 2);
            }
          }
        });
      }

      it(`conv2d forward, dX, dW, db: larger (im2col in pieces, threads over channels), ${dtype}`, () => {
        const rng = new Rng(seed + 7);
        // Kg = 576 columns leave room for 224 pixels per piece: 16x16 outputs take two pieces;
        // 48 output channels over 9x9 pixels split the threads over channels
        for (const [x, w] of [[[1, 64, 16, 16], [4, 64, 3, 3]], [[2, 8, 9, 9], [48, 8, 3, 3]]]) {
          const cs = convCases(dtype, x as number[], w as number[], { padding: 1 }, { x: rng.normals(numel(x as number[])), w: rng.normals(numel(w as number[])), b: rng.normals((w as number[])[0] as number), dy: rng.normals(numel([x[0] as number, w[0] as number, x[2] as number, x[3] as number])) }, 2 ** -10);
          for (const c of cs) property(rng, c, 1);
        }
      });

      it(`pools (max with indices, avg, adaptive) and their backwards, ${dtype}`, () => {
        const rng = new Rng(seed + 3);
        for (let i = 0; i < Math.ceil(10 * rounds); i++) for (const c of poolCases(rng, dtype)) property(rng, c, 2);
      });

      for (const axes of ['batch', 'layer', 'instance', 'group'] as const) {
        it(`norm '${axes}': forward, apply (given statistics), backward (batch and given statistics), ${dtype}`, () => {
          const rng = new Rng(seed + 4 + axes.length);
          for (let i = 0; i < Math.ceil(5 * rounds); i++) for (const c of normFamily(rng, dtype, axes)) property(rng, c, 2);
        });
      }

      it(`elementwise (every unary and binary op, copy), ${dtype}`, () => {
        const rng = new Rng(seed + 5);
        for (let i = 0; i < Math.ceil(4 * rounds); i++) for (const c of elementwiseCases(rng, dtype)) property(rng, c, 2);
      });

      it(`views: a strided copy, scatterView, cat, ${dtype}`, () => {
        const rng = new Rng(seed + 8);
        for (let i = 0; i < Math.ceil(4 * rounds); i++) {
          const v = { storage: rng.normals(84), g: rng.normals(18), pad1: rng.normals(6), pad2: rng.normals(6) };
          for (const c of viewCases(dtype, v)) property(rng, c, 2);
        }
      });

      it(`reductions and softmax, ${dtype}`, () => {
        const rng = new Rng(seed + 6);
        for (let i = 0; i < Math.ceil(4 * rounds); i++) for (const c of reduceCases(rng, dtype)) property(rng, c, 2);
      });
    }
  });
}

describe('coverage', () => {
  it('every kernel with fast variants is covered, and each of its variants ran', () => {
    for (const k of cpuKernelNames()) {
      if (cpuVariants(k).length > 1) expect(COVERED, `kernel '${k}' has ${cpuVariants(k).length} variants`).toContain(k);
    }
    for (const k of COVERED) {
      const ran = [...(seen.get(k) ?? [])].sort();
      // WASM variants need the runtime, their FMA twins relaxed SIMD
      const present = cpuVariants(k)
        .map((v) => v.name)
        .filter((v) => (!v.startsWith('wasm') || wasmAvailable()) && (!v.endsWith('-fma') || wasmRelaxed()));
      expect(ran, `variants of '${k}' that ran`).toEqual(expect.arrayContaining(present));
    }
  });
});
