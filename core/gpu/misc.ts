// GPU adapters for softmax, argReduce, gather, gatherBackward, scatterView and cat, with the
// names, attrs and semantics of the CPU adapters (core/cpu/reduce.ts, core/cpu/elementwise.ts).
// Sources: kernels/gpu/misc.ts. Inputs may be any view: the kernels read them through their
// offsets, and non-contiguous ones are made contiguous first where a kernel wants [outer, n, inner].
import type { DType } from '../dtype.js';
import { catShape, isContiguous, numel } from '../shape.js';
import { copySource } from '../../kernels/gpu/elementwise.js';
import {
  type CatPart,
  argReduceSource,
  catSource,
  gatherBackwardSource,
  gatherSource,
  isNestedView,
  scatterViewAnySource,
  scatterViewSource,
  softmaxRowSource,
  softmaxSource,
} from '../../kernels/gpu/misc.js';
import { type GpuBackend, type GpuBuffer, type GpuInput, assertGpuDType, gpuOut, registerGpuKernel } from './device.js';

/** [outer, n, inner] sizes around `dim` (a 0-d tensor is one element along its only dim). */
function around(shape: readonly number[], dim: number): [number, number, number] {
  return [numel(shape.slice(0, dim)), shape[dim] ?? 1, numel(shape.slice(dim + 1))];
}

/** The input as a contiguous view (itself, or a fresh copy that `done` releases). */
function contiguousInput(gpu: GpuBackend, t: GpuInput): { buffer: GpuBuffer; offset: number; done(): void } {
  if (isContiguous(t.shape, t.strides)) return { buffer: t.buffer, offset: t.offset, done: () => {} };
  const buffer = gpu.launch('copy', copySource(t.shape, t.strides, false), numel(t.shape), 1, [t.buffer], [t.offset]);
  return { buffer, offset: 0, done: () => gpu.release(buffer) };
}

const zeros = (gpu: GpuBackend, dtype: DType, shape: readonly number[]) => gpuOut(gpu.allocate(dtype, numel(shape)), dtype, shape);

// softmax along attrs.dim (attrs.log: logSoftmax): row max, row Σ exp(x − max), then the values.
registerGpuKernel('softmax', (gpu, [xIn], attrs) => {
  assertGpuDType(xIn.dtype, 'softmax');
  const [outer, n, inner] = around(xIn.shape, attrs.dim);
  if (numel(xIn.shape) === 0) return [zeros(gpu, xIn.dtype, xIn.shape)];
  const x = contiguousInput(gpu, xIn);
  const rows = outer * inner;
  const max = gpu.launch('softmaxMax', softmaxRowSource('max', outer, n, inner), rows, n, [x.buffer], [x.offset]);
  const sum = gpu.launch('softmaxSum', softmaxRowSource('sum', outer, n, inner), rows, n, [x.buffer, max], [x.offset]);
  const y = gpu.launch('softmax', softmaxSource(outer, n, inner, attrs.log), numel(xIn.shape), 1, [x.buffer, max, sum], [x.offset]);
  gpu.release(max);
  gpu.release(sum);
  x.done();
  return [gpuOut(y, xIn.dtype, xIn.shape)];
});

// argReduce: int32 output with the keepdim shape (the op rejects empty inputs).
registerGpuKernel('argReduce', (gpu, [xIn], attrs) => {
  const dim = attrs.dim;
  const [outer, n, inner] = around(xIn.shape, dim);
  const shape = xIn.shape.map((s, d) => (d === dim ? 1 : s));
  const x = contiguousInput(gpu, xIn);
  const src = argReduceSource(attrs.op, outer, n, inner);
  const o = gpu.launch('argReduce', src, outer * inner, n, [x.buffer], [x.offset]);
  x.done();
  return [gpuOut(o, 'int32', shape)];
});

// gather: index has x's shape except along dim; out has index's shape and x's dtype.
registerGpuKernel('gather', (gpu, [xIn, indexIn], attrs) => {
  const dim = attrs.dim;
  const [outer, m, inner] = around(indexIn.shape, dim);
  const n = xIn.shape[dim] ?? 1;
  const [x, index] = [contiguousInput(gpu, xIn), contiguousInput(gpu, indexIn)];
  const o = gpu.launch('gather', gatherSource(outer, n, m, inner), outer * m * inner, 1, [x.buffer, index.buffer], [x.offset, index.offset]);
  x.done();
  index.done();
  return [gpuOut(o, xIn.dtype, indexIn.shape)];
});

// gatherBackward: gx of attrs.shape gets g[…, j, …] added at index[…, j, …] along dim.
registerGpuKernel('gatherBackward', (gpu, [gIn, indexIn], attrs) => {
  const { dim, shape } = attrs;
  const [outer, m, inner] = around(indexIn.shape, dim);
  const n = shape[dim] ?? 1;
  const [g, index] = [contiguousInput(gpu, gIn), contiguousInput(gpu, indexIn)];
  const src = gatherBackwardSource(outer, n, m, inner);
  const o = gpu.launch('gatherBackward', src, numel(shape), m, [g.buffer, index.buffer], [g.offset, index.offset]);
  g.done();
  index.done();
  return [gpuOut(o, gIn.dtype, shape)];
});

// scatterView: out = zeros(attrs.shape); out[view] += g, the view given by attrs.strides/offset
// over a contiguous array of attrs.shape.
registerGpuKernel('scatterView', (gpu, [g], attrs) => {
  const { shape, strides: viewStrides, offset } = attrs;
  const size = numel(shape);
  if (numel(g.shape) === 0) return [zeros(gpu, g.dtype, shape)];
  const nested = isNestedView(g.shape, viewStrides);
  const src = (nested ? scatterViewSource : scatterViewAnySource)(g.shape, viewStrides, offset, g.strides);
  const o = gpu.launch(nested ? 'scatterView' : 'scatterViewAny', src, size, nested ? 1 : numel(g.shape), [g.buffer], [g.offset]);
  return [gpuOut(o, g.dtype, shape)];
});

/** Inputs per cat launch (each is a texture unit in WebGL; a dozen or more is safe). */
const CAT_INPUTS_PER_LAUNCH = 8;

// cat along attrs.dim: every launch copies up to 8 inputs into their slabs and carries the rest
// over from the previous launch.
registerGpuKernel('cat', (gpu, xs, attrs) => {
  const dim = attrs.dim;
  const shape = catShape(xs, dim);
  const size = numel(shape);
  let start = 0;
  const placed = xs.map((x) => {
    const part: CatPart = { shape: x.shape, strides: x.strides, start };
    start += x.shape[dim];
    return { x, part };
  });
  const nonEmpty = placed.filter((p) => numel(p.x.shape) > 0);
  let out: GpuBuffer | null = null;
  for (let i = 0; i < nonEmpty.length || out === null; i += CAT_INPUTS_PER_LAUNCH) {
    const group = nonEmpty.slice(i, i + CAT_INPUTS_PER_LAUNCH);
    const src = catSource(shape, dim, group.map((p) => p.part), out !== null);
    const prev = out;
    out = gpu.launch('cat', src, size, 1, [...(prev ? [prev] : []), ...group.map((p) => p.x.buffer)], group.map((p) => p.x.offset));
    if (prev) gpu.release(prev);
  }
  return [gpuOut(out, xs[0].dtype, shape)];
});
