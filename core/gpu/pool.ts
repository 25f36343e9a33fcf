// GPU adapters for pooling: the kernel names, inputs and attrs of core/cpu/pool.ts. Inputs are
// [N, C, H, W] views; attrs.geom is the op's PoolGeometry. Max pooling runs two kernels — the
// winners' positions, then a gather of their values — since a gpu.js thread returns one number.
import type { PoolGeometry } from '../../kernels/geometry.js';
import type { Strides4 } from '../../kernels/gpu/conv.js';
import {
  type AdaptiveShape,
  type Planes,
  adaptiveAvgPool2dBackwardSource,
  adaptiveAvgPool2dSource,
  adaptiveLoopBound,
  avgPool2dBackwardSource,
  avgPool2dSource,
  maxPool2dBackwardSource,
  maxPool2dGatherSource,
  maxPool2dIndexSource,
  poolLoopBound,
} from '../../kernels/gpu/pool.js';
import { type GpuInput, assertGpuDType, gpuOut, registerGpuKernel } from './device.js';

const strides4 = (t: GpuInput): Strides4 => t.strides as unknown as Strides4;
const planesOf = (shape: readonly number[]): Planes => ({ n: shape[0], c: shape[1] });

function geom(attrs: { geom: PoolGeometry }, t: GpuInput, op: string): PoolGeometry {
  assertGpuDType(t.dtype, op);
  return attrs.geom;
}

// maxPool2d: [x] -> [y, indices (int32, flat h·W + w within each plane)]
registerGpuKernel('maxPool2d', (gpu, [x], attrs) => {
  const p = geom(attrs, x, 'maxPool2d');
  const q = planesOf(x.shape);
  const shape = [q.n, q.c, p.oh, p.ow];
  const size = p.planes * p.oh * p.ow;
  const xs = strides4(x);
  const idx = gpu.launch('maxPool2dIndex', maxPool2dIndexSource(q, p, xs), size, poolLoopBound(p), [x.buffer], [x.offset]);
  const y = gpu.launch('maxPool2dGather', maxPool2dGatherSource(q, p, xs), size, 1, [x.buffer, idx], [x.offset, 0]);
  return [gpuOut(y, x.dtype, shape), gpuOut(idx, 'int32', shape)];
});

// maxPool2dBackward: [dy, indices] -> dx of attrs.inputShape
registerGpuKernel('maxPool2dBackward', (gpu, [dy, idx], attrs) => {
  const p = geom(attrs, dy, 'maxPool2dBackward');
  const shape = attrs.inputShape;
  const src = maxPool2dBackwardSource(planesOf(shape), p, strides4(dy), strides4(idx));
  const buf = gpu.launch('maxPool2dBackward', src, p.planes * p.h * p.w, poolLoopBound(p), [dy.buffer, idx.buffer], [dy.offset, idx.offset]);
  return [gpuOut(buf, dy.dtype, shape)];
});

registerGpuKernel('avgPool2d', (gpu, [x], attrs) => {
  const p = geom(attrs, x, 'avgPool2d');
  const q = planesOf(x.shape);
  const src = avgPool2dSource(q, p, attrs.options, strides4(x));
  const buf = gpu.launch('avgPool2d', src, p.planes * p.oh * p.ow, poolLoopBound(p), [x.buffer], [x.offset]);
  return [gpuOut(buf, x.dtype, [q.n, q.c, p.oh, p.ow])];
});

registerGpuKernel('avgPool2dBackward', (gpu, [dy], attrs) => {
  const p = geom(attrs, dy, 'avgPool2dBackward');
  const shape = attrs.inputShape;
  const src = avgPool2dBackwardSource(planesOf(shape), p, attrs.options, strides4(dy));
  const buf = gpu.launch('avgPool2dBackward', src, p.planes * p.h * p.w, poolLoopBound(p), [dy.buffer], [dy.offset]);
  return [gpuOut(buf, dy.dtype, shape)];
});

// adaptiveAvgPool2d: [x] -> y of [N, C, attrs.oh, attrs.ow]
registerGpuKernel('adaptiveAvgPool2d', (gpu, [x], attrs) => {
  assertGpuDType(x.dtype, 'adaptiveAvgPool2d');
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const s: AdaptiveShape = { n, c, h, w, oh: attrs.oh, ow: attrs.ow };
  const buf = gpu.launch('adaptiveAvgPool2d', adaptiveAvgPool2dSource(s, strides4(x)), n * c * s.oh * s.ow, adaptiveLoopBound(s), [x.buffer], [x.offset]);
  return [gpuOut(buf, x.dtype, [n, c, s.oh, s.ow])];
});

registerGpuKernel('adaptiveAvgPool2dBackward', (gpu, [dy], attrs) => {
  assertGpuDType(dy.dtype, 'adaptiveAvgPool2dBackward');
  const [n, c, h, w] = attrs.inputShape as [number, number, number, number];
  const [, , oh, ow] = dy.shape as [number, number, number, number];
  const s: AdaptiveShape = { n, c, h, w, oh, ow };
  const src = adaptiveAvgPool2dBackwardSource(s, strides4(dy));
  const buf = gpu.launch('adaptiveAvgPool2dBackward', src, n * c * h * w, adaptiveLoopBound(s), [dy.buffer], [dy.offset]);
  return [gpuOut(buf, dy.dtype, [n, c, h, w])];
});
