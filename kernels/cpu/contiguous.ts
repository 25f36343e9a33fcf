// Fast paths for dense operands. When an operand is one unbroken run of memory, an elementwise op
// is a single loop, and a reduction over a block of neighbouring dims is
//   out[o, j] = ⊕_k x[o, k, j]     over x viewed as [outer, n, inner].
// The strided kernels (elementwise.ts, reduce.ts) walk any view with an odometer and call the op
// through a table; these do the same arithmetic in the same order — so the results are equal bit
// for bit — with one loop per op, so V8 sees a single operation and no callback.

import { BINARY_OPS, type BinaryOp, UNARY_OPS, type UnaryOp } from './elementwise.js';
import type { ReduceOp } from './reduce.js';

type NumArray = Float32Array | Float64Array | Int32Array;

/** out[i] = f(x[off + i]) for i < n. */
export function unaryContiguous(op: UnaryOp, x: NumArray, off: number, n: number, out: NumArray): void {
  switch (op) {
    case 'neg':
      for (let i = 0; i < n; i++) out[i] = -x[off + i];
      return;
    case 'exp':
      for (let i = 0; i < n; i++) out[i] = Math.exp(x[off + i]);
      return;
    case 'log':
      for (let i = 0; i < n; i++) out[i] = Math.log(x[off + i]);
      return;
    case 'sqrt':
      for (let i = 0; i < n; i++) out[i] = Math.sqrt(x[off + i]);
      return;
    case 'abs':
      for (let i = 0; i < n; i++) out[i] = Math.abs(x[off + i]);
      return;
    case 'relu':
      for (let i = 0; i < n; i++) {
        const v = x[off + i];
        out[i] = v > 0 ? v : v !== v ? v : 0; // NaN stays NaN, as torch
      }
      return;
    case 'sigmoid':
      for (let i = 0; i < n; i++) out[i] = 1 / (1 + Math.exp(-x[off + i]));
      return;
    case 'tanh':
      for (let i = 0; i < n; i++) out[i] = Math.tanh(x[off + i]);
      return;
    default: {
      const f = UNARY_OPS[op];
      for (let i = 0; i < n; i++) out[i] = f(x[off + i]);
    }
  }
}

/**
 * out[i] = a[pa] ∘ b[pb] for i < n, where each operand either walks its run (step 1) or is one
 * broadcast scalar (step 0).
 */
export function binaryContiguous(
  op: BinaryOp,
  a: NumArray,
  aOff: number,
  aStep: 0 | 1,
  b: NumArray,
  bOff: number,
  bStep: 0 | 1,
  n: number,
  out: NumArray,
): void {
  let pa = aOff;
  let pb = bOff;
  switch (op) {
    case 'add':
      for (let i = 0; i < n; i++, pa += aStep, pb += bStep) out[i] = a[pa] + b[pb];
      return;
    case 'sub':
      for (let i = 0; i < n; i++, pa += aStep, pb += bStep) out[i] = a[pa] - b[pb];
      return;
    case 'mul':
      for (let i = 0; i < n; i++, pa += aStep, pb += bStep) out[i] = a[pa] * b[pb];
      return;
    case 'div':
      for (let i = 0; i < n; i++, pa += aStep, pb += bStep) out[i] = a[pa] / b[pb];
      return;
    case 'reluBackward':
      for (let i = 0; i < n; i++, pa += aStep, pb += bStep) out[i] = a[pa] <= 0 ? 0 : b[pb];
      return;
    default: {
      const f = BINARY_OPS[op];
      for (let i = 0; i < n; i++, pa += aStep, pb += bStep) out[i] = f(a[pa], b[pb]);
    }
  }
}

/**
 * out[o·inner + j] = ⊕_{k<n} x[off + (o·n + k)·inner + j], accumulated in float64 in increasing k
 * (the order the reference visits them), NaN propagating through max and min as in torch.
 */
export function reduceContiguous(
  op: ReduceOp,
  x: NumArray,
  off: number,
  outer: number,
  n: number,
  inner: number,
  out: NumArray,
): void {
  if (inner === 1) {
    for (let o = 0; o < outer; o++) out[o] = reduceRun(op, x, off + o * n, n);
    return;
  }
  const acc = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    acc.fill(op === 'sum' ? 0 : op === 'prod' ? 1 : op === 'max' ? -Infinity : Infinity);
    for (let k = 0; k < n; k++) {
      const p = off + (o * n + k) * inner;
      if (op === 'sum') for (let j = 0; j < inner; j++) acc[j] += x[p + j];
      else if (op === 'prod') for (let j = 0; j < inner; j++) acc[j] *= x[p + j];
      else if (op === 'max')
        for (let j = 0; j < inner; j++) {
          const v = x[p + j];
          if (v > acc[j] || v !== v) acc[j] = v;
        }
      else
        for (let j = 0; j < inner; j++) {
          const v = x[p + j];
          if (v < acc[j] || v !== v) acc[j] = v;
        }
    }
    for (let j = 0; j < inner; j++) out[o * inner + j] = acc[j];
  }
}

/** ⊕ of x[p .. p + n) in float64. */
function reduceRun(op: ReduceOp, x: NumArray, p: number, n: number): number {
  let acc = 0;
  switch (op) {
    case 'sum':
      for (let k = 0; k < n; k++) acc += x[p + k];
      return acc;
    case 'prod':
      acc = 1;
      for (let k = 0; k < n; k++) acc *= x[p + k];
      return acc;
    case 'max':
      acc = -Infinity;
      for (let k = 0; k < n; k++) {
        const v = x[p + k];
        if (v > acc || v !== v) acc = v;
      }
      return acc;
    default:
      acc = Infinity;
      for (let k = 0; k < n; k++) {
        const v = x[p + k];
        if (v < acc || v !== v) acc = v;
      }
      return acc;
  }
}
