// CPU adapters for pooling. Inputs arrive contiguous as [N, C, H, W]; attrs carry the geometry.
import {
  adaptiveAvgPool2dBackward,
  adaptiveAvgPool2dForward,
  avgPool2dBackward,
  avgPool2dForward,
  maxPool2dBackward,
  maxPool2dForward,
} from '../../kernels/cpu/pool2d.js';
import { type CpuInput, registerCpuKernel } from './registry.js';
import { allocOutput } from '../allocator.js';

type FloatArray = Float32Array | Float64Array;

function data<T extends FloatArray | Int32Array>(t: CpuInput): T {
  const b = t.buffer as T;
  return (t.offset === 0 ? b : b.subarray(t.offset)) as T;
}

/** [N, C, oh, ow] for an [N, C, h, w] input. */
function outShape(x: CpuInput, oh: number, ow: number): number[] {
  return [x.shape[0], x.shape[1], oh, ow];
}

// maxPool2d: [x] -> [y, indices (int32, flat h·W + w within each plane)]
registerCpuKernel('maxPool2d', ([x], attrs) => {
  const p = attrs.geom;
  const y = allocOutput(x.dtype, p.planes * p.oh * p.ow) as FloatArray;
  const idx = new Int32Array(p.planes * p.oh * p.ow);
  maxPool2dForward(data(x), y, idx, p);
  const shape = outShape(x, p.oh, p.ow);
  return [
    { buffer: y, dtype: x.dtype, shape },
    { buffer: idx, dtype: 'int32', shape },
  ];
});

// maxPool2dBackward: [dy, indices] -> dx of attrs.inputShape
registerCpuKernel('maxPool2dBackward', ([dy, idx], attrs) => {
  const p = attrs.geom;
  const dx = allocOutput(dy.dtype, p.planes * p.h * p.w) as FloatArray;
  maxPool2dBackward(data(dy), data<Int32Array>(idx), dx, p);
  return [{ buffer: dx, dtype: dy.dtype, shape: attrs.inputShape }];
});

registerCpuKernel('avgPool2d', ([x], attrs) => {
  const p = attrs.geom;
  const y = allocOutput(x.dtype, p.planes * p.oh * p.ow) as FloatArray;
  avgPool2dForward(data(x), y, p, attrs.options);
  return [{ buffer: y, dtype: x.dtype, shape: outShape(x, p.oh, p.ow) }];
});

registerCpuKernel('avgPool2dBackward', ([dy], attrs) => {
  const p = attrs.geom;
  const dx = allocOutput(dy.dtype, p.planes * p.h * p.w) as FloatArray;
  avgPool2dBackward(data(dy), dx, p, attrs.options);
  return [{ buffer: dx, dtype: dy.dtype, shape: attrs.inputShape }];
});

// adaptiveAvgPool2d: [x] -> y of [N, C, attrs.oh, attrs.ow]
registerCpuKernel('adaptiveAvgPool2d', ([x], attrs) => {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const oh = attrs.oh;
  const ow = attrs.ow;
  const y = allocOutput(x.dtype, n * c * oh * ow) as FloatArray;
  adaptiveAvgPool2dForward(data(x), y, n * c, h, w, oh, ow);
  return [{ buffer: y, dtype: x.dtype, shape: [n, c, oh, ow] }];
});

registerCpuKernel('adaptiveAvgPool2dBackward', ([dy], attrs) => {
  const [n, c, h, w] = attrs.inputShape as [number, number, number, number];
  const [, , oh, ow] = dy.shape as [number, number, number, number];
  const dx = allocOutput(dy.dtype, n * c * h * w) as FloatArray;
  adaptiveAvgPool2dBackward(data(dy), dx, n * c, h, w, oh, ow);
  return [{ buffer: dx, dtype: dy.dtype, shape: [n, c, h, w] }];
});
