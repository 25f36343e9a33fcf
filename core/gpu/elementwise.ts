// GPU adapters for copy, unary, binary and where, with the names, attrs and semantics of the CPU
// adapters (core/cpu/elementwise.ts). Sources: kernels/gpu/elementwise.ts. Inputs may be any
// view (broadcast ones included): the kernels read them through their strides and offsets.
import { ValueError } from '../errors.js';
import { numel } from '../shape.js';
import { GPU_BINARY, GPU_UNARY, binarySource, copySource, unarySource, whereSource } from '../../kernels/gpu/elementwise.js';
import { assertGpuDType, gpuOut, registerGpuKernel } from './device.js';

// copy: contiguous copy of a view, optionally cast to attrs.dtype (int32 truncates toward 0).
registerGpuKernel('copy', (gpu, [x], attrs) => {
  const dtype = attrs.dtype ?? x.dtype;
  assertGpuDType(dtype, 'copy');
  const src = copySource(x.shape, x.strides, dtype === 'int32' && x.dtype !== 'int32');
  return [gpuOut(gpu.launch('copy', src, numel(x.shape), 1, [x.buffer], [x.offset]), dtype, x.shape)];
});

registerGpuKernel('unary', (gpu, [x], attrs) => {
  const op = attrs.op;
  if (!(op in GPU_UNARY)) throw new ValueError(`gpu unary: unknown op '${op}'`);
  const src = unarySource(op, x.shape, x.strides);
  return [gpuOut(gpu.launch('unary', src, numel(x.shape), 1, [x.buffer], [x.offset]), x.dtype, x.shape)];
});

// binary: a and b are views already broadcast to the output shape; attrs.dtype is the result type.
registerGpuKernel('binary', (gpu, [a, b], attrs) => {
  const { op, dtype } = attrs;
  if (!(op in GPU_BINARY)) throw new ValueError(`gpu binary: unknown op '${op}'`);
  assertGpuDType(dtype, 'binary');
  const src = binarySource(op, a.shape, a.strides, b.strides);
  return [gpuOut(gpu.launch('binary', src, numel(a.shape), 1, [a.buffer, b.buffer], [a.offset, b.offset]), dtype, a.shape)];
});

// where: [cond, a, b] views broadcast to the output shape; out = cond ? a : b.
registerGpuKernel('where', (gpu, [c, a, b]) => {
  const src = whereSource(a.shape, c.strides, a.strides, b.strides);
  const buf = gpu.launch('where', src, numel(a.shape), 1, [c.buffer, a.buffer, b.buffer], [c.offset, a.offset, b.offset]);
  return [gpuOut(buf, a.dtype, a.shape)];
});
