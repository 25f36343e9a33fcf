// GPU adapter for reduce (sum, max, min, prod over any set of dims; the CPU's is
// core/cpu/reduce.ts). Source: kernels/gpu/reduce.ts. softmax and argReduce are in misc.ts.
import { ValueError } from '../errors.js';
import { numel } from '../shape.js';
import { fillSource } from '../../kernels/gpu/elementwise.js';
import { reduceLoopBound, reduceSource } from '../../kernels/gpu/reduce.js';
import { assertGpuDType, gpuOut, registerGpuKernel } from './device.js';

// reduce: attrs.dims are reduced; the output has the keepdim shape.
registerGpuKernel('reduce', (gpu, [x], attrs) => {
  const { op, dims } = attrs;
  const reduce = x.shape.map((_, d) => dims.includes(d));
  const shape = x.shape.map((s, d) => (reduce[d] ? 1 : s));
  const dtype = attrs.dtype ?? x.dtype;
  assertGpuDType(dtype, 'reduce');
  const size = numel(shape);
  if (numel(x.shape) === 0) {
    if (op !== 'sum' && op !== 'prod') throw new ValueError(`gpu reduce: ${op} of an empty tensor has no identity`);
    return [gpuOut(gpu.launch(`fill-${op}`, fillSource(op === 'sum' ? 0 : 1), size, 1, [], []), dtype, shape)];
  }
  const src = reduceSource(op, x.shape, x.strides, reduce);
  return [gpuOut(gpu.launch('reduce', src, size, reduceLoopBound(x.shape, reduce), [x.buffer], [x.offset]), dtype, shape)];
});
