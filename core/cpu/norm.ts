// CPU adapters for the normalisation family (kernels/cpu/norm.ts).
//   normForward  [x, weight?, bias?]             → [y, mean, var]   statistics of x's own sets
//   normApply    [x, mean, var, weight?, bias?]  → [y]              given statistics (eval mode)
//   normBackward [x, gy, mean, var, weight?, bias? (with relu)] → [gx, gWeight, gBias]
// attrs: axes, N, C, S, groups (the layout x[N, C, S] is read as), eps, hasWeight, hasBias,
// relu (a fused ReLU after the norm); normBackward also batchStats (did the forward use x's own
// statistics?). The TypeScript variants run the fused ReLU as a pass of its own. Optional inputs are
// present only when their has* flag is set. Inputs may be strided views: they are gathered to
// contiguous arrays first. mean/var have one entry per set, in x's dtype; gWeight/gBias have C.
// Variants: 'reference' (the obvious loops) and 'fused'; WASM BatchNorm joins in core/cpu/wasm.ts.
import {
  normApply,
  normApplyReference,
  normBackward,
  normBackwardReference,
  normForward,
  normForwardReference,
} from '../../kernels/cpu/norm.js';
import { numSets } from '../../kernels/geometry.js';
import { type CpuInput, registerCpuVariant } from './registry.js';
import { allocOutput } from '../allocator.js';
import { allocArray } from '../dtype.js';
import { binaryStrided, copyStrided, reluInPlace } from '../../kernels/cpu/elementwise.js';
import { isContiguous, numel } from '../shape.js';

type Floats = Float32Array | Float64Array;

/** The input's elements as one contiguous array (the buffer itself when it already is). */
function dense(t: CpuInput): Floats {
  const n = numel(t.shape);
  const buf = t.buffer as Floats;
  if (isContiguous(t.shape, t.strides)) return t.offset === 0 && buf.length === n ? buf : buf.subarray(t.offset, t.offset + n);
  const out = allocArray(t.dtype, n) as Floats;
  copyStrided(buf, t.shape, t.strides, t.offset, out);
  return out;
}

type NormKernels = {
  forward: typeof normForward;
  apply: typeof normApply;
  backward: typeof normBackward;
};

/** Register normForward/normApply/normBackward for one set of kernels (reference or fused). */
function registerNorm(name: string, about: string, rank: number, k: NormKernels): void {
  registerCpuVariant('normForward', {
    name, about, rank, supports: () => true,
    run: (inputs, attrs) => {
      const x = inputs[0];
      let next = 1;
      const weight = attrs.hasWeight ? dense(inputs[next++]) : null;
      const bias = attrs.hasBias ? dense(inputs[next++]) : null;
      const sets = numSets(attrs);
      const y = allocOutput(x.dtype, numel(x.shape)) as Floats;
      const mean = allocOutput(x.dtype, sets) as Floats;
      const variance = allocOutput(x.dtype, sets) as Floats;
      k.forward(dense(x), attrs, attrs.eps, weight, bias, y, mean, variance);
      if (attrs.relu) reluInPlace(y);
      return [
        { buffer: y, dtype: x.dtype, shape: x.shape },
        { buffer: mean, dtype: x.dtype, shape: [sets] },
        { buffer: variance, dtype: x.dtype, shape: [sets] },
      ];
    },
  });
  registerCpuVariant('normApply', {
    name, about, rank, supports: () => true,
    run: (inputs, attrs) => {
      const [x, mean, variance] = inputs;
      let next = 3;
      const weight = attrs.hasWeight ? dense(inputs[next++]) : null;
      const bias = attrs.hasBias ? dense(inputs[next++]) : null;
      const y = allocOutput(x.dtype, numel(x.shape)) as Floats;
      k.apply(dense(x), attrs, dense(mean), dense(variance), attrs.eps, weight, bias, y);
      if (attrs.relu) reluInPlace(y);
      return [{ buffer: y, dtype: x.dtype, shape: x.shape }];
    },
  });
  registerCpuVariant('normBackward', {
    name, about, rank, supports: () => true,
    run: (inputs, attrs) => {
      const [x, gy, mean, variance] = inputs;
      const weight = attrs.hasWeight ? dense(inputs[4]) : null;
      const gx = allocOutput(x.dtype, numel(x.shape)) as Floats;
      const gWeight = allocOutput(x.dtype, attrs.C) as Floats;
      const gBias = allocOutput(x.dtype, attrs.C) as Floats;
      const [xs, ms, vs] = [dense(x), dense(mean), dense(variance)];
      let g = dense(gy);
      if (attrs.relu) {
        // gradient of relu(y): relu's backward on y, recomputed as the forward did
        const bias = attrs.hasBias ? dense(inputs[attrs.hasWeight ? 5 : 4]) : null;
        const y = allocArray(x.dtype, numel(x.shape)) as Floats;
        k.apply(xs, attrs, ms, vs, attrs.eps, weight, bias, y);
        binaryStrided('reluBackward', y, [1], 0, g, [1], 0, [y.length], y);
        g = y;
      }
      k.backward(xs, g, attrs, ms, vs, attrs.eps, weight, attrs.batchStats, gx, gWeight, gBias);
      return [
        { buffer: gx, dtype: x.dtype, shape: x.shape },
        { buffer: gWeight, dtype: x.dtype, shape: [attrs.C] },
        { buffer: gBias, dtype: x.dtype, shape: [attrs.C] },
      ];
    },
  });
}

registerNorm('reference', 'TypeScript loops over the table of sets (two passes for the statistics)', 0, {
  forward: normForwardReference,
  apply: normApplyReference,
  backward: normBackwardReference,
});
registerNorm('fused', 'TypeScript fused kernels: one pass per statistic, fused backward', 10, {
  forward: normForward,
  apply: normApply,
  backward: normBackward,
});
