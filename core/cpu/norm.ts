// CPU adapters for the normalisation family (kernels/cpu/norm.ts).
//   normForward  [x, weight?, bias?]             → [y, mean, var]   statistics of x's own sets
//   normApply    [x, mean, var, weight?, bias?]  → [y]              given statistics (eval mode)
//   normBackward [x, gy, mean, var, weight?]     → [gx, gWeight, gBias]
// attrs: axes, N, C, S, groups (the layout x[N, C, S] is read as), eps, hasWeight, hasBias;
// normBackward also batchStats (did the forward use x's own statistics?). Optional inputs are
// present only when their has* flag is set. Inputs may be strided views: they are gathered to
// contiguous arrays first. mean/var have one entry per set, in x's dtype; gWeight/gBias have C.
import {
  layoutOf,
  normApply,
  normApplyReference,
  normBackward,
  normBackwardReference,
  normForward,
  normForwardReference,
  numSets,
} from '../../kernels/cpu/norm.js';
import { type CpuInput, registerCpuKernel } from '../cpu_backend.js';
import type { KernelAttrs } from '../backend.js';
import { allocArray } from '../dtype.js';
import { copyStrided } from '../../kernels/cpu/elementwise.js';
import { isContiguous, numel } from '../shape.js';

type Floats = Float32Array | Float64Array;

/** Which kernels the norm family runs; tests and benchmarks switch it. */
export const normImpl: { current: 'fast' | 'reference' } = { current: 'fast' };

/** The input's elements as one contiguous array (the buffer itself when it already is). */
function dense(t: CpuInput): Floats {
  const n = numel(t.shape);
  const buf = t.buffer as Floats;
  if (isContiguous(t.shape, t.strides)) return t.offset === 0 && buf.length === n ? buf : buf.subarray(t.offset, t.offset + n);
  const out = allocArray(t.dtype, n) as Floats;
  copyStrided(buf, t.shape, t.strides, t.offset, out);
  return out;
}

const useReference = (attrs: KernelAttrs): boolean => ((attrs.impl as string | undefined) ?? normImpl.current) === 'reference';

registerCpuKernel('normForward', (inputs, attrs) => {
  const x = inputs[0]!;
  let next = 1;
  const weight = attrs.hasWeight ? dense(inputs[next++]!) : null;
  const bias = attrs.hasBias ? dense(inputs[next++]!) : null;
  const l = layoutOf(attrs);
  const sets = numSets(l);
  const y = allocArray(x.dtype, numel(x.shape)) as Floats;
  const mean = allocArray(x.dtype, sets) as Floats;
  const variance = allocArray(x.dtype, sets) as Floats;
  const forward = useReference(attrs) ? normForwardReference : normForward;
  forward(dense(x), l, attrs.eps as number, weight, bias, y, mean, variance);
  return [
    { buffer: y, dtype: x.dtype, shape: x.shape },
    { buffer: mean, dtype: x.dtype, shape: [sets] },
    { buffer: variance, dtype: x.dtype, shape: [sets] },
  ];
});

registerCpuKernel('normApply', (inputs, attrs) => {
  const [x, mean, variance] = inputs as [CpuInput, CpuInput, CpuInput];
  let next = 3;
  const weight = attrs.hasWeight ? dense(inputs[next++]!) : null;
  const bias = attrs.hasBias ? dense(inputs[next++]!) : null;
  const y = allocArray(x.dtype, numel(x.shape)) as Floats;
  const apply = useReference(attrs) ? normApplyReference : normApply;
  apply(dense(x), layoutOf(attrs), dense(mean), dense(variance), attrs.eps as number, weight, bias, y);
  return [{ buffer: y, dtype: x.dtype, shape: x.shape }];
});

registerCpuKernel('normBackward', (inputs, attrs) => {
  const [x, gy, mean, variance] = inputs as [CpuInput, CpuInput, CpuInput, CpuInput];
  const weight = attrs.hasWeight ? dense(inputs[4]!) : null;
  const l = layoutOf(attrs);
  const gx = allocArray(x.dtype, numel(x.shape)) as Floats;
  const gWeight = allocArray(x.dtype, l.C) as Floats;
  const gBias = allocArray(x.dtype, l.C) as Floats;
  const backward = useReference(attrs) ? normBackwardReference : normBackward;
  backward(dense(x), dense(gy), l, dense(mean), dense(variance), attrs.eps as number, weight, attrs.batchStats as boolean, gx, gWeight, gBias);
  return [
    { buffer: gx, dtype: x.dtype, shape: x.shape },
    { buffer: gWeight, dtype: x.dtype, shape: [l.C] },
    { buffer: gBias, dtype: x.dtype, shape: [l.C] },
  ];
});
