// GPU adapters for convolution: the kernel names, inputs and attrs of core/cpu/conv.ts
// (attrs.geom is the op's ConvGeometry). The CPU has several variants per direction; on the GPU
// there is one direct kernel per direction (kernels/gpu/conv.ts says why).
import type { ConvGeometry } from '../../kernels/geometry.js';
import {
  type Strides4,
  conv2dBackwardBiasSource,
  conv2dBackwardInputSource,
  conv2dBackwardWeightSource,
  conv2dSource,
  convLoopBound,
} from '../../kernels/gpu/conv.js';
import { fillSource } from '../../kernels/gpu/elementwise.js';
import { numel } from '../shape.js';
import { type GpuBackend, type GpuInput, assertGpuDType, gpuOut, registerGpuKernel } from './device.js';

const strides4 = (t: GpuInput): Strides4 => t.strides as unknown as Strides4;
/** An empty batch sums over nothing: dw and db are zeros (and there is no dy buffer to read). */
const zeros = (gpu: GpuBackend, size: number) => gpu.launch('fill0', fillSource(0), size, 1, [], []);

function geom(attrs: { geom: ConvGeometry }, first: GpuInput, op: string): ConvGeometry {
  assertGpuDType(first.dtype, op);
  return attrs.geom;
}

// conv2d: [x, w, bias?] -> y [N, O, oh, ow] (attrs.relu: max(y, 0))
registerGpuKernel('conv2d', (gpu, [x, w, b], attrs) => {
  const p = geom(attrs, x, 'conv2d');
  const shape = [p.n, p.o, p.oh, p.ow];
  const src = conv2dSource(p, strides4(x), strides4(w), b ? b.strides[0] : null, attrs.relu === true);
  const buffers = b ? [x.buffer, w.buffer, b.buffer] : [x.buffer, w.buffer];
  const offsets = b ? [x.offset, w.offset, b.offset] : [x.offset, w.offset];
  return [gpuOut(gpu.launch('conv2d', src, numel(shape), convLoopBound(p), buffers, offsets), x.dtype, shape)];
});

// conv2dBackwardInput: [dy, w] -> dx [N, C, h, w]
registerGpuKernel('conv2dBackwardInput', (gpu, [dy, w], attrs) => {
  const p = geom(attrs, dy, 'conv2dBackwardInput');
  const shape = [p.n, p.c, p.h, p.w];
  const src = conv2dBackwardInputSource(p, strides4(dy), strides4(w));
  const buf = gpu.launch('conv2dBackwardInput', src, numel(shape), convLoopBound(p), [dy.buffer, w.buffer], [dy.offset, w.offset]);
  return [gpuOut(buf, dy.dtype, shape)];
});

// conv2dBackwardWeight: [dy, x] -> dw [O, C/groups, kh, kw]
registerGpuKernel('conv2dBackwardWeight', (gpu, [dy, x], attrs) => {
  const p = geom(attrs, dy, 'conv2dBackwardWeight');
  const shape = [p.o, p.c / p.groups, p.kh, p.kw];
  if (p.n === 0) return [gpuOut(zeros(gpu, numel(shape)), dy.dtype, shape)];
  const src = conv2dBackwardWeightSource(p, strides4(dy), strides4(x));
  const buf = gpu.launch('conv2dBackwardWeight', src, numel(shape), convLoopBound(p), [dy.buffer, x.buffer], [dy.offset, x.offset]);
  return [gpuOut(buf, dy.dtype, shape)];
});

// conv2dBackwardBias: [dy] -> db [O]
registerGpuKernel('conv2dBackwardBias', (gpu, [dy], attrs) => {
  const p = geom(attrs, dy, 'conv2dBackwardBias');
  if (p.n === 0) return [gpuOut(zeros(gpu, p.o), dy.dtype, [p.o])];
  const src = conv2dBackwardBiasSource(p, strides4(dy));
  return [gpuOut(gpu.launch('conv2dBackwardBias', src, p.o, convLoopBound(p), [dy.buffer], [dy.offset]), dy.dtype, [p.o])];
});
