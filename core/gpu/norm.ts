// GPU adapters for the normalisation family, with the CPU adapters' contract (core/cpu/norm.ts):
//   normForward  [x, weight?, bias?]             → [y, mean, var]
//   normApply    [x, mean, var, weight?, bias?]  → [y]
//   normBackward [x, gy, mean, var, weight?]     → [gx, gWeight, gBias]
// attrs (NormAttrs, core/kernel_names.ts): the layout axes, N, C, S, groups, and eps, hasWeight,
// hasBias; normBackward also batchStats.
// Sources: kernels/gpu/norm.ts. Statistics are two-pass like the CPU's (μ, then Σ(x − μ)²),
// each pass a two-level set sum; intermediate buffers are released before returning.
import type { NormAttrs } from '../kernel_names.js';
import { ValueError } from '../errors.js';
import { isContiguous, numel } from '../shape.js';
import { type NormLayout, numSets } from '../../kernels/geometry.js';
import { copySource } from '../../kernels/gpu/elementwise.js';
import {
  type NormIndex,
  type SetSumView,
  channelView,
  normElementwiseSource,
  partialSumSource,
  pieces,
  rsqrt,
  setSumLoopBound,
  setTotalSource,
  statsView,
} from '../../kernels/gpu/norm.js';
import { type GpuBackend, type GpuBuffer, type GpuInput, assertGpuDType, gpuOut, registerGpuKernel } from './device.js';

/** A buffer and the storage offset its contiguous elements start at. */
interface Dense {
  buffer: GpuBuffer;
  offset: number;
  /** A copy made here (released when the kernel is done). */
  temp: boolean;
}

/** The input as contiguous elements: the view itself when it already is, else a copy. */
function dense(gpu: GpuBackend, t: GpuInput): Dense {
  if (isContiguous(t.shape, t.strides)) return { buffer: t.buffer, offset: t.offset, temp: false };
  const buffer = gpu.launch('copy', copySource(t.shape, t.strides, false), numel(t.shape), 1, [t.buffer], [t.offset]);
  return { buffer, offset: 0, temp: true };
}

const fresh = (buffer: GpuBuffer): Dense => ({ buffer, offset: 0, temp: true });

function release(gpu: GpuBackend, ds: readonly (Dense | null)[]): void {
  for (const d of ds) if (d?.temp) gpu.release(d.buffer);
}

/** out[k] = scale · Σ over set k of x (or of (x − μ_k)² when `mean` is given), in two levels. */
function setSum(gpu: GpuBackend, v: SetSumView, x: Dense, scale: number, mean: Dense | null = null): GpuBuffer {
  const { P } = pieces(v.T);
  const bound = setSumLoopBound(v);
  const part = mean
    ? gpu.launch('normPartial', partialSumSource(v, 'sqdev'), v.K * v.R * P, bound, [x.buffer, mean.buffer], [x.offset, mean.offset])
    : gpu.launch('normPartial', partialSumSource(v, 'sum'), v.K * v.R * P, bound, [x.buffer], [x.offset]);
  const total = gpu.launch('normTotal', setTotalSource(v.R * P, scale), v.K, bound, [part], []);
  gpu.release(part);
  return total;
}

/** Run an elementwise norm kernel over x[N, C, S] with named operands. */
function elementwise(gpu: GpuBackend, key: string, l: NormLayout, operands: readonly (readonly [string, NormIndex, Dense])[], expr: string): GpuBuffer {
  const src = normElementwiseSource(
    l,
    operands.map(([name, idx]) => [name, idx] as const),
    expr,
  );
  return gpu.launch(
    key,
    src,
    l.N * l.C * l.S,
    1,
    operands.map((o) => o[2].buffer),
    operands.map((o) => o[2].offset),
  );
}

/** y = (x − μ_k)·r_k·γ_c + β_c (γ = 1, β = 0 when absent). */
function applyNorm(gpu: GpuBackend, l: NormLayout, x: Dense, mean: Dense, variance: Dense, eps: number, w: Dense | null, b: Dense | null): GpuBuffer {
  const ops: [string, NormIndex, Dense][] = [
    ['x', 'element', x],
    ['mean', 'set', mean],
    ['variance', 'set', variance],
  ];
  if (w) ops.push(['w', 'channel', w]);
  if (b) ops.push(['b', 'channel', b]);
  const expr = `(x - mean) * ${rsqrt(eps)}${w ? ' * w' : ''}${b ? ' + b' : ''}`;
  return elementwise(gpu, 'normApply', l, ops, expr);
}

/** Optional inputs after the fixed ones, by the has* flags. */
function optional(gpu: GpuBackend, inputs: readonly GpuInput[], first: number, attrs: NormAttrs): [Dense | null, Dense | null] {
  const w = attrs.hasWeight ? dense(gpu, inputs[first]) : null;
  const b = attrs.hasBias ? dense(gpu, inputs[first + (w ? 1 : 0)]) : null;
  return [w, b];
}

/** The fused ReLU (attrs.relu) is a CPU kernel option; on the GPU the op composes norm and relu. */
function noFusedRelu(attrs: NormAttrs, kernel: string): void {
  if (attrs.relu) throw new ValueError(`gpu ${kernel}: attrs.relu (a fused ReLU) is not supported on the gpu; the ops run relu after the norm there`);
}

registerGpuKernel('normForward', (gpu, inputs, attrs) => {
  const xIn = inputs[0];
  assertGpuDType(xIn.dtype, 'normForward');
  noFusedRelu(attrs, 'normForward');
  const l: NormLayout = attrs; // NormAttrs is the layout plus eps and the has* flags
  if (numel(xIn.shape) === 0) {
    // nothing to normalise; the statistics of empty sets are 0/0, as on the cpu
    const sets = numSets(l);
    const nan = () => gpu.upload(new Float32Array(sets).fill(Number.NaN));
    return [gpuOut(gpu.allocate(xIn.dtype, 0), xIn.dtype, xIn.shape), gpuOut(nan(), xIn.dtype, [sets]), gpuOut(nan(), xIn.dtype, [sets])];
  }
  const v = statsView(l);
  const x = dense(gpu, xIn);
  const [w, b] = optional(gpu, inputs, 1, attrs);
  const m = v.R * v.T;
  const mean = fresh(setSum(gpu, v, x, 1 / m));
  const variance = fresh(setSum(gpu, v, x, 1 / m, mean));
  const y = applyNorm(gpu, l, x, mean, variance, attrs.eps, w, b);
  release(gpu, [x, w, b]);
  return [gpuOut(y, xIn.dtype, xIn.shape), gpuOut(mean.buffer, xIn.dtype, [v.K]), gpuOut(variance.buffer, xIn.dtype, [v.K])];
});

registerGpuKernel('normApply', (gpu, inputs, attrs) => {
  const xIn = inputs[0];
  assertGpuDType(xIn.dtype, 'normApply');
  noFusedRelu(attrs, 'normApply');
  const [x, mean, variance] = [dense(gpu, xIn), dense(gpu, inputs[1]), dense(gpu, inputs[2])];
  const [w, b] = optional(gpu, inputs, 3, attrs);
  const y = applyNorm(gpu, attrs, x, mean, variance, attrs.eps, w, b);
  release(gpu, [x, mean, variance, w, b]);
  return [gpuOut(y, xIn.dtype, xIn.shape)];
});

// The backward of kernels/cpu/norm.ts (derivation there): with x̂ = (x − μ_k) r_k,
//   gBias_c = Σ_c gy,  gWeight_c = Σ_c gy·x̂,  A_k = Σ_k γ_c gy,  B_k = Σ_k γ_c gy·x̂,
//   gx = r_k (γ_c gy − A_k/m − x̂ B_k/m)   (batch statistics),   gx = r_k γ_c gy   (fixed).
// Built from full-size temporaries u = gy·x̂ (and γ·gy, γ·u when γ is given), the per-channel
// sums and the per-set sums, each a two-level set sum.
registerGpuKernel('normBackward', (gpu, inputs, attrs) => {
  const xIn = inputs[0];
  assertGpuDType(xIn.dtype, 'normBackward');
  noFusedRelu(attrs, 'normBackward');
  const l: NormLayout = attrs; // NormAttrs is the layout plus eps and the has* flags
  if (numel(xIn.shape) === 0) {
    // sums over nothing: zero gradients for γ and β
    const zeros = () => gpuOut(gpu.allocate(xIn.dtype, l.C), xIn.dtype, [l.C]);
    return [gpuOut(gpu.allocate(xIn.dtype, 0), xIn.dtype, xIn.shape), zeros(), zeros()];
  }
  const eps = attrs.eps;
  const [x, gy, mean, variance] = inputs.slice(0, 4).map((t) => dense(gpu, t)) as [Dense, Dense, Dense, Dense];
  const w = attrs.hasWeight ? dense(gpu, inputs[4]) : null;
  const r = rsqrt(eps);
  const xhat = `(x - mean) * ${r}`;
  const u = fresh(
    elementwise(gpu, 'normGyXhat', l, [['x', 'element', x], ['gy', 'element', gy], ['mean', 'set', mean], ['variance', 'set', variance]], `gy * ${xhat}`),
  );
  const cv = channelView(l);
  const gBias = setSum(gpu, cv, gy, 1);
  const gWeight = setSum(gpu, cv, u, 1);
  let gx: GpuBuffer;
  const gammaGy = w ? ' * w' : '';
  const wOp: [string, NormIndex, Dense][] = w ? [['w', 'channel', w]] : [];
  if (attrs.batchStats) {
    const sv = statsView(l);
    const m = sv.R * sv.T;
    const scaled = (t: Dense): Dense => (w ? fresh(elementwise(gpu, 'normGamma', l, [['v', 'element', t], ['w', 'channel', w]], 'v * w')) : t);
    const [ga, gb] = [scaled(gy), scaled(u)];
    const A = fresh(setSum(gpu, sv, ga, 1 / m));
    const B = fresh(setSum(gpu, sv, gb, 1 / m));
    const ops: [string, NormIndex, Dense][] = [
      ['x', 'element', x],
      ['gy', 'element', gy],
      ['mean', 'set', mean],
      ['variance', 'set', variance],
      ...wOp,
      ['A', 'set', A],
      ['B', 'set', B],
    ];
    gx = elementwise(gpu, 'normBackwardX', l, ops, `${r} * (gy${gammaGy} - A - ${xhat} * B)`);
    release(gpu, [w ? ga : null, w ? gb : null, A, B]);
  } else {
    const ops: [string, NormIndex, Dense][] = [['gy', 'element', gy], ['variance', 'set', variance], ...wOp];
    gx = elementwise(gpu, 'normBackwardX', l, ops, `${r} * gy${gammaGy}`);
  }
  release(gpu, [x, gy, mean, variance, w, u]);
  return [gpuOut(gx, xIn.dtype, xIn.shape), gpuOut(gWeight, xIn.dtype, [l.C]), gpuOut(gBias, xIn.dtype, [l.C])];
});
