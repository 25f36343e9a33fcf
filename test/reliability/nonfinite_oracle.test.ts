// Non-finite values against torch 1.13: the cases of gen_nonfinite.py (Inf, -Inf and NaN planted
// in the inputs of conv and its three gradients, matmul, max/avg/adaptive pooling and their
// backwards, BatchNorm train and eval, LayerNorm, InstanceNorm, GroupNorm, relu, add, reductions,
// argmax/argmin, softmax and logSoftmax), run by every
// variant of each kernel that takes the call, in float64 and float32.
//
// The class of every output element (NaN, +Inf, -Inf, finite) must be torch's, with one allowance:
// the norm backwards with a non-finite γ may trade NaN and ±Inf (see checkNorm). One divergence is
// excluded and reported: relu's backward at a NaN input (see the 'relu' case).
// Finite values: float64 within 1e-10 (relative to the output's scale); float32 within 2^-12 of
// the scale (float32 storage and accumulation against torch's float64; Winograd 2^-9).
// Max pooling's indices must be torch's exactly.
import { describe, expect, it } from 'vitest';
import { type CpuInput, type CpuOutput, cpuVariants } from '../../core/cpu/registry.js';
import type { TypedArray } from '../../core/dtype.js';
import type { KernelAttrMap, KernelName } from '../../core/kernel_names.js';
import '../../index.js';
import type { NormLayout } from '../../kernels/geometry.js';
import { winogradAtEverySize } from '../helpers/wasm.js';
import { conv2dGeometry } from '../../nn/ops/conv.js';
import { poolGeometry } from './nonfinite_cases.js';
import { classOf, type Encoded, type FloatDType, loadFixtureFrom } from './nonfinite_helpers.js';

const cases = loadFixtureFrom('nonfinite.json');
const DTYPES: FloatDType[] = ['float64', 'float32'];
const isWinograd = (v: string): boolean => v.startsWith('wasm-winograd');

/** A kernel input holding an encoded tensor's values in `dtype` (int32 stays int32). */
function input(e: Encoded, dtype: FloatDType): CpuInput {
  const d = e.dtype === 'int32' ? 'int32' : dtype;
  const buffer = (d === 'int32' ? Int32Array.from(e.values) : d === 'float32' ? Float32Array.from(e.values) : Float64Array.from(e.values)) as TypedArray;
  const strides = e.shape.map((_, i) => e.shape.slice(i + 1).reduce((a, b) => a * b, 1));
  return { buffer, dtype: d, shape: e.shape, strides, offset: 0 };
}

/** Every variant of `kernel` that takes the call, with its outputs. */
function runAll<K extends KernelName>(kernel: K, inputs: CpuInput[], attrs: KernelAttrMap[K]): { name: string; out: CpuOutput[] }[] {
  const vs = cpuVariants(kernel).filter((v) => v.supports(inputs, attrs));
  expect(vs.length, `variants of ${kernel} taking the call`).toBeGreaterThan(0);
  return vs.map((v) => ({ name: v.name, out: v.run(inputs, attrs) }));
}

interface Expect {
  label: string;
  dtype: FloatDType;
  /** element indices not compared, each with the reason (a divergence reported, see the call) */
  skip?: (i: number) => boolean;
  /** NaN and ±Inf may trade places (finite must stay finite and non-finite non-finite), see checkNorm. */
  loose?: boolean;
}

/** actual vs torch: classes (Winograd: NaN allowed for ±Inf) and finite values. */
function expectTorch(actual: ArrayLike<number>, torch: Encoded, variant: string, o: Expect): void {
  const want = torch.values;
  expect(actual.length, `${o.label} '${variant}' length`).toBe(want.length);
  let scale = 0;
  for (const v of want) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
  const rel = o.dtype === 'float64' ? 1e-10 : isWinograd(variant) ? 2 ** -9 : 2 ** -12;
  for (let i = 0; i < want.length; i++) {
    if (o.skip?.(i)) continue;
    const a = actual[i] as number;
    const t = want[i] as number;
    const ca = classOf(a);
    const ct = classOf(t);
    const loose = o.loose && ca !== 'finite' && ct !== 'finite';
    if (ca !== ct && !loose) {
      expect.fail(`${o.label} '${variant}' ${o.dtype} [${i}]: ${a} where torch gives ${t}`);
    }
    if (ca === 'finite' && !(Math.abs(a - t) <= rel * (scale + Math.abs(t) + 1))) {
      expect.fail(`${o.label} '${variant}' ${o.dtype} [${i}]: ${a} vs torch's ${t} (tolerance ${rel} of the scale ${scale})`);
    }
  }
}

/** Run kernel `k` in every variant and check output `which` of each against torch. */
function check<K extends KernelName>(k: K, ins: CpuInput[], attrs: KernelAttrMap[K], outputs: [number, Encoded | undefined][], o: Expect): string[] {
  const runs = runAll(k, ins, attrs);
  for (const { name, out } of runs) {
    for (const [which, torch] of outputs) {
      if (torch) expectTorch((out[which] as CpuOutput).buffer as ArrayLike<number>, torch, name, { ...o, label: `${o.label}: ${k} output ${which}` });
    }
  }
  return runs.map((r) => r.name);
}

const T = (c: Record<string, unknown>, key: string): Encoded => {
  const e = c[key] as Encoded | undefined;
  if (!e) throw new Error(`fixture case '${String(c.name)}' has no '${key}'`);
  return e;
};
const maybe = (c: Record<string, unknown>, key: string): Encoded | undefined => c[key] as Encoded | undefined;
const pair = (v: unknown, fallback: number): [number, number] => (v === undefined || v === null ? [fallback, fallback] : Array.isArray(v) ? [v[0], v[1]] : [v as number, v as number]);

describe('non-finite inputs against torch 1.13 (every variant, float64 and float32)', () => {
  winogradAtEverySize();

  it('the fixture holds every family', () => {
    expect(new Set(cases.map((c) => c.kind))).toEqual(new Set(['conv', 'matmul', 'max', 'avg', 'adaptive', 'norm', 'relu', 'add', 'rows']));
  });

  for (const c of cases) {
    for (const dtype of DTYPES) {
      it(`${c.name} (${dtype})`, () => {
        const label = c.name as string;
        const o: Expect = { label, dtype };
        const I = (key: string): CpuInput => input(T(c, key), dtype);
        switch (c.kind) {
          case 'conv': {
            const x = T(c, 'x');
            const w = T(c, 'w');
            const geom = conv2dGeometry(x.shape, w.shape, { stride: c.stride as number, padding: c.padding as number, dilation: c.dilation as number, groups: c.groups as number });
            const b = maybe(c, 'b');
            const ran = check('conv2d', [I('x'), I('w'), ...(b ? [I('b')] : [])], { geom }, [[0, T(c, 'y')]], o);
            check('conv2dBackwardInput', [I('gy'), I('w')], { geom }, [[0, T(c, 'dx')]], o);
            check('conv2dBackwardWeight', [I('gy'), I('x')], { geom }, [[0, T(c, 'dw')]], o);
            if (b) check('conv2dBackwardBias', [I('gy')], { geom }, [[0, T(c, 'db')]], o);
            expect(ran.length, `${label}: conv variants`).toBeGreaterThan(dtype === 'float32' ? 2 : 1);
            break;
          }
          case 'matmul':
            check('matmul', [I('a'), I('b')], {}, [[0, T(c, 'c')]], o);
            break;
          case 'max': {
            const x = T(c, 'x');
            const k = pair(c.kernel_size, 1);
            const geom = poolGeometry(x.shape, { k, s: pair(c.stride, k[0]), p: pair(c.padding, 0), d: pair(c.dilation, 1), ceil: Boolean(c.ceil_mode) });
            if (c.stride === undefined) [geom.sh, geom.sw] = k;
            const idx = T(c, 'indices');
            check('maxPool2d', [I('x')], { geom }, [[0, T(c, 'y')], [1, idx]], o);
            check('maxPool2dBackward', [I('gy'), input(idx, dtype)], { geom, inputShape: x.shape }, [[0, T(c, 'gx')]], o);
            break;
          }
          case 'avg': {
            const x = T(c, 'x');
            const k = pair(c.kernel_size, 1);
            const geom = poolGeometry(x.shape, { k, s: pair(c.stride, k[0]), p: pair(c.padding, 0), d: [1, 1], ceil: Boolean(c.ceil_mode) });
            const options = { countIncludePad: c.count_include_pad !== false, divisorOverride: 0 };
            check('avgPool2d', [I('x')], { geom, options }, [[0, T(c, 'y')]], o);
            check('avgPool2dBackward', [I('gy')], { geom, options, inputShape: x.shape }, [[0, T(c, 'gx')]], o);
            break;
          }
          case 'adaptive': {
            const [oh, ow] = pair(c.output_size, 1);
            check('adaptiveAvgPool2d', [I('x')], { oh, ow }, [[0, T(c, 'y')]], o);
            check('adaptiveAvgPool2dBackward', [I('gy')], { inputShape: T(c, 'x').shape }, [[0, T(c, 'gx')]], o);
            break;
          }
          case 'norm':
            checkNorm(c, dtype, o, I);
            break;
          case 'relu': {
            check('unary', [I('x')], { op: 'relu' }, [[0, T(c, 'y')]], o);
            // torch passes gy where x is NaN (threshold_backward: x <= 0 ? 0 : gy), and so does ours
            check('binary', [I('x'), I('gy')], { op: 'reluBackward', dtype }, [[0, T(c, 'gx')]], o);
            break;
          }
          case 'add':
            check('binary', [I('a'), I('b')], { op: 'add', dtype }, [[0, T(c, 'c')]], o);
            break;
          case 'rows':
            for (const op of ['sum', 'max', 'min', 'prod'] as const) check('reduce', [I('x')], { op, dims: [1] }, [[0, T(c, op)]], o);
            for (const op of ['argmax', 'argmin'] as const) check('argReduce', [I('x')], { op, dim: 1 }, [[0, T(c, op)]], o);
            check('softmax', [I('x')], { dim: 1, log: false }, [[0, T(c, 'softmax')]], o);
            check('softmax', [I('x')], { dim: 1, log: true }, [[0, T(c, 'logSoftmax')]], o);
            break;
          default:
            throw new Error(`unknown fixture kind ${String(c.kind)}`);
        }
      });
    }
  }
});

/** The norm kernels on a case: forward (own statistics) or apply (running ones), then the backward. */
function checkNorm(c: Record<string, unknown>, dtype: FloatDType, o: Expect, I: (key: string) => CpuInput): void {
  const x = T(c, 'x');
  const axes = c.axes as NormLayout['axes'];
  const [N, C] = x.shape as [number, number];
  const S = x.shape.slice(2).reduce((a, b) => a * b, 1);
  const l: NormLayout = { axes, N, C, S, groups: c.groups as number };
  const w = maybe(c, 'weight');
  const b = maybe(c, 'bias');
  const attrs = { ...l, eps: c.eps as number, hasWeight: w !== undefined, hasBias: b !== undefined };
  const affine = [...(w ? [I('weight')] : []), ...(b ? [I('bias')] : [])];
  const xs = { ...I('x'), shape: [N, C, S], strides: [C * S, S, 1] };
  const gy = { ...I('gy'), shape: [N, C, S], strides: [C * S, S, 1] };
  const grads: [number, Encoded | undefined][] = [[0, T(c, 'gx')], [1, maybe(c, 'gweight')], [2, maybe(c, 'gbias')]];
  if (c.runningMean) {
    const stats = [I('runningMean'), I('runningVar')];
    check('normApply', [xs, ...stats, ...affine], attrs, [[0, T(c, 'y')]], o);
    check('normBackward', [xs, gy, ...stats, ...(w ? [I('weight')] : [])], { ...attrs, batchStats: false }, grads, o);
    return;
  }
  check('normForward', [xs, ...affine], attrs, [[0, T(c, 'y')]], o);
  // the backward gets the forward's statistics (the reference's, in this dtype)
  const ref = cpuVariants('normForward').at(-1);
  const [, mean, variance] = ref?.run([xs, ...affine], attrs) ?? [];
  const stat = (t: CpuOutput | undefined): CpuInput => ({ buffer: t?.buffer as TypedArray, dtype, shape: [...(t?.shape ?? [])], strides: [1], offset: 0 });
  // A non-finite γ enters gx through γ·gy and through the set's sums A = Σ γ·gy, B = Σ γ·gy·x̂,
  // which meet as Inf − Inf in places that depend on how the terms are grouped: torch groups them
  // differently in each of its norm kernels, and so do our reference and fused forms. There NaN and
  // ±Inf may trade places; which elements are non-finite must still be torch's.
  const loose = w?.values.some((v) => !Number.isFinite(v));
  check('normBackward', [xs, gy, stat(mean), stat(variance), ...(w ? [I('weight')] : [])], { ...attrs, batchStats: true }, grads, { ...o, loose });
}
