// The Race tab's workloads: the kernel ladder of the CLI bench, cut to what a page runs in a few
// seconds. Each case builds its inputs from a seeded generator (the same numbers in the worker,
// the page and Node), runs once on a path, is checked against the reference variant on the same
// inputs, and only then timed. A wrong result is reported, never timed.
import { noGrad } from '../autograd/graph.js';
import { matmul } from '../autograd/ops/matmul.js';
import { randn, tensor } from '../core/creation.js';
import { Generator } from '../core/random.js';
import type { Tensor } from '../core/tensor.js';
import { variants } from '../index.js';
import { conv2d } from '../nn/ops/conv.js';
import { batchNorm } from '../nn/ops/norm.js';
import { onCpuPath, type PathId } from './paths.js';
import { ValueError } from '../core/errors.js';

export type CaseId = 'gemm256' | 'gemm512' | 'conv' | 'gconv' | 'bn';

interface RaceCase {
  id: CaseId;
  label: string;
  shapes: number[][];
  /** Floating-point operations of one call (a multiply-add is two). */
  flops: number;
  op(t: Tensor[]): Tensor;
  /** The reference variants of the kernels this op runs (strictly pinned). */
  reference: Parameters<typeof variants.use>[0];
}

const conv3x3 = (groups: number) => (t: Tensor[]) => conv2d(t[0] as Tensor, t[1] as Tensor, null, { padding: 1, groups });
const convRef = { conv2d: 'direct' } as const;
// BatchNorm in training: per channel a mean and a variance over (N, H, W) (two passes, ~3 flops
// an element), then y = (x - mean) * invstd * gamma + beta (~4 flops an element)
const BN_SHAPE = [8, 64, 28, 28];

export const RACE_CASES: readonly RaceCase[] = [
  { id: 'gemm256', label: 'GEMM 256³', shapes: [[256, 256], [256, 256]], flops: 2 * 256 ** 3, op: (t) => matmul(t[0] as Tensor, t[1] as Tensor), reference: { matmul: 'reference' } },
  { id: 'gemm512', label: 'GEMM 512³', shapes: [[512, 512], [512, 512]], flops: 2 * 512 ** 3, op: (t) => matmul(t[0] as Tensor, t[1] as Tensor), reference: { matmul: 'reference' } },
  { id: 'conv', label: 'conv 3×3 64→64, 28×28, b1', shapes: [[1, 64, 28, 28], [64, 64, 3, 3]], flops: 2 * 64 * 64 * 9 * 28 * 28, op: conv3x3(1), reference: convRef },
  { id: 'gconv', label: 'grouped conv 3×3 64→64, g=32', shapes: [[1, 64, 28, 28], [64, 2, 3, 3]], flops: 2 * 64 * 2 * 9 * 28 * 28, op: conv3x3(32), reference: convRef },
  {
    id: 'bn',
    label: 'BatchNorm [8, 64, 28, 28]',
    shapes: [BN_SHAPE, [64], [64]],
    flops: 7 * BN_SHAPE.reduce((a, b) => a * b, 1),
    op: (t) => batchNorm(t[0] as Tensor, null, null, t[1] as Tensor, t[2] as Tensor, { training: true }),
    reference: { normForward: 'reference', normApply: 'reference' },
  },
];

/** The least time one timed sample spans (several calls of a fast kernel). */
const SAMPLE_MS = 2;

/** Bench's rule: the largest |got - ref| over max(1, max |ref|) must stay within this. */
export const RACE_TOLERANCE = 1e-4;

export function raceCase(id: CaseId): RaceCase {
  const c = RACE_CASES.find((x) => x.id === id);
  if (!c) throw new ValueError(`race case must be one of ${RACE_CASES.map((x) => x.id).join(', ')}, but got '${String(id)}'`);
  return c;
}

/** The case's inputs as host arrays: the same numbers wherever they are made (seed 13 + case index). */
export function caseInputs(c: RaceCase): Float32Array[] {
  const gen = new Generator(13 + RACE_CASES.indexOf(c));
  return c.shapes.map((s) => randn(s, { generator: gen }).toArray() as Float32Array);
}

function tensors(c: RaceCase, inputs: Float32Array[], device: 'cpu' | 'gpu'): Tensor[] {
  return inputs.map((data, i) => tensor(data, { shape: c.shapes[i] as number[], dtype: 'float32', device }));
}

/** The reference output of a case (TypeScript reference kernels, float64 inside). */
export function referenceOutput(c: RaceCase, inputs: Float32Array[]): Float32Array {
  const ts = tensors(c, inputs, 'cpu');
  return variants.use(c.reference, () => noGrad(() => c.op(ts)).toArray() as Float32Array);
}

export function scaledError(got: Float32Array, ref: Float32Array): number {
  if (got.length !== ref.length) return Number.POSITIVE_INFINITY;
  let scale = 1;
  for (const v of ref) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const e = Math.abs((got[i] as number) - (ref[i] as number)) / scale;
    if (!(e <= worst)) worst = e; // NaN sticks
  }
  return worst;
}

export interface RaceResult {
  case: CaseId;
  path: PathId;
  /**
   * ok: checked, then timed; once: checked and timed by that one call (a software renderer, too
   * slow to repeat); wrong: failed the check (not timed); error: did not run.
   */
  status: 'ok' | 'once' | 'wrong' | 'error';
  error?: number;
  reason?: string;
  firstMs?: number;
  medianMs?: number;
  gflops?: number;
  /** Timed calls (after the checked one). */
  reps?: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/**
 * Run case `c` on `path`: once, check against `ref`, then time repeats until `budgetMs` is spent
 * (at least `minReps`, at most 25), or with `once` report the checked call's own time (which
 * includes a GPU path's shader compilation). `threads` for the WASM threads path. GPU paths need
 * initGpu first.
 */
export async function raceOn(
  c: RaceCase,
  path: PathId,
  inputs: Float32Array[],
  ref: Float32Array,
  opts: { budgetMs?: number; minReps?: number; threads?: number; once?: boolean } = {},
): Promise<RaceResult> {
  const { budgetMs = 250, minReps = 3, threads, once: onlyOnce = false } = opts;
  const gpu = path === 'webgl2' || path === 'webgpu';
  const base = { case: c.id, path };
  try {
    const ts = tensors(c, inputs, gpu ? 'gpu' : 'cpu');
    let last: Float32Array = new Float32Array(0);
    const once = gpu
      ? async () => {
          const y = noGrad(() => c.op(ts));
          last = (await y.data()) as Float32Array;
          y.dispose();
        }
      : async () => {
          last = onCpuPath(path, () => noGrad(() => c.op(ts)).toArray() as Float32Array, threads);
        };
    let t0 = performance.now();
    await once();
    const firstMs = performance.now() - t0;
    const error = scaledError(last, ref);
    if (!(error <= RACE_TOLERANCE)) {
      return { ...base, status: 'wrong', error, firstMs, reason: `max scaled error ${error.toExponential(2)} > ${RACE_TOLERANCE}` };
    }
    if (onlyOnce) {
      if (gpu) for (const t of ts) t.dispose();
      return { ...base, status: 'once', error, firstMs, medianMs: firstMs, gflops: c.flops / (firstMs * 1e6), reps: 1 };
    }
    // A page that is not cross-origin isolated sees performance.now() in 0.1 ms steps: a sample
    // is as many calls as fill SAMPLE_MS (by the first call's time), divided by their number.
    const perSample = Math.max(1, Math.min(64, Math.ceil(SAMPLE_MS / Math.max(firstMs, 0.01))));
    const times: number[] = [];
    const start = performance.now();
    while (times.length < minReps || (performance.now() - start < budgetMs && times.length < 25)) {
      t0 = performance.now();
      for (let k = 0; k < perSample; k++) await once();
      times.push((performance.now() - t0) / perSample);
    }
    if (gpu) for (const t of ts) t.dispose();
    const medianMs = median(times);
    return { ...base, status: 'ok', error, firstMs, medianMs, gflops: c.flops / (medianMs * 1e6), reps: times.length * perSample };
  } catch (e) {
    return { ...base, status: 'error', reason: e instanceof Error ? e.message : String(e) };
  }
}
