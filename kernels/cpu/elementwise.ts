// Elementwise kernels over strided views. Broadcasting is done by the caller through strides:
// a broadcast dim has stride 0, so out[i] = f(a[offA + Σ i_d·sa_d], b[offB + Σ i_d·sb_d]).
// These kernels import nothing of ours but the shared geometry helpers, and know nothing of
// tensors or autograd.

import { coalesce } from '../geometry.js';

type NumArray = Float32Array | Float64Array | Int32Array;

export const UNARY_OPS = {
  neg: (x: number) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  abs: Math.abs,
  relu: (x: number) => (x > 0 ? x : x !== x ? x : 0),
  sigmoid: (x: number) => 1 / (1 + Math.exp(-x)),
  tanh: Math.tanh,
  sign: (x: number) => (x > 0 ? 1 : x < 0 ? -1 : x),
  reciprocal: (x: number) => 1 / x,
} as const;
export type UnaryOp = keyof typeof UNARY_OPS;

export const BINARY_OPS = {
  add: (a: number, b: number) => a + b,
  sub: (a: number, b: number) => a - b,
  mul: (a: number, b: number) => a * b,
  div: (a: number, b: number) => a / b,
  pow: Math.pow,
  // NaN wins, as torch.maximum / torch.minimum
  maximum: (a: number, b: number) => (a !== a || b !== b ? Number.NaN : a > b ? a : b),
  minimum: (a: number, b: number) => (a !== a || b !== b ? Number.NaN : a < b ? a : b),
  eq: (a: number, b: number) => (a === b ? 1 : 0),
  ne: (a: number, b: number) => (a !== b ? 1 : 0),
  lt: (a: number, b: number) => (a < b ? 1 : 0),
  le: (a: number, b: number) => (a <= b ? 1 : 0),
  gt: (a: number, b: number) => (a > b ? 1 : 0),
  ge: (a: number, b: number) => (a >= b ? 1 : 0),
  // relu(a + b) in one pass: a residual join and the ReLU after it
  addRelu: (a: number, b: number) => UNARY_OPS.relu(a + b),
  // ReLU's backward in one pass: a is ReLU's input x, b the incoming gradient g; ∂relu/∂x = [not x <= 0]
  reluBackward: (a: number, b: number) => (a <= 0 ? 0 : b), // as torch: a NaN x passes the gradient
} as const;
export type BinaryOp = keyof typeof BINARY_OPS;

/**
 * Walk a shape in row-major order, calling `body(outIndex, posA, posB, posC)` with the
 * storage positions of up to three strided operands. The innermost dim is a plain loop.
 */
function forEachStrided3(
  fullShape: readonly number[],
  fullSa: readonly number[],
  oa: number,
  fullSb: readonly number[],
  ob: number,
  fullSc: readonly number[],
  oc: number,
  row: (outStart: number, n: number, pa: number, da: number, pb: number, db: number, pc: number, dc: number) => void,
): void {
  const [shape, sa, sb, sc] = coalesce(fullShape, fullSa, fullSb, fullSc);
  const nd = shape.length;
  if (nd === 0) {
    row(0, 1, oa, 0, ob, 0, oc, 0);
    return;
  }
  const inner = shape[nd - 1];
  let total = 1;
  for (const s of shape) total *= s;
  if (total === 0) return;
  const idx = new Array<number>(nd).fill(0);
  let pa = oa;
  let pb = ob;
  let pc = oc;
  const da = sa[nd - 1];
  const db = sb[nd - 1];
  const dc = sc[nd - 1];
  for (let out = 0; out < total; out += inner) {
    row(out, inner, pa, da, pb, db, pc, dc);
    for (let d = nd - 2; d >= 0; d--) {
      idx[d]++;
      pa += sa[d];
      pb += sb[d];
      pc += sc[d];
      if (idx[d] < shape[d]) break;
      pa -= idx[d] * sa[d];
      pb -= idx[d] * sb[d];
      pc -= idx[d] * sc[d];
      idx[d] = 0;
    }
  }
}

/** out[i] = f(x[view i]) for a unary op; `out` is contiguous with numel(shape) elements. */
export function unaryStrided(
  op: UnaryOp,
  x: NumArray,
  shape: readonly number[],
  strides: readonly number[],
  offset: number,
  out: NumArray,
): void {
  const f = UNARY_OPS[op];
  const zeros = new Array<number>(shape.length).fill(0);
  forEachStrided3(shape, strides, offset, zeros, 0, zeros, 0, (o, n, pa, da) => {
    for (let i = 0; i < n; i++, pa += da) out[o + i] = f(x[pa]);
  });
}

/** y ← relu(y) over a contiguous array, in place (a ReLU fused into the kernel before it, as a pass of its own). */
export function reluInPlace(y: NumArray): void {
  unaryStrided('relu', y, [y.length], [1], 0, y);
}

/** out[i] = a[view i] ∘ b[view i], where the views are already broadcast to `shape`. */
export function binaryStrided(
  op: BinaryOp,
  a: NumArray,
  aStrides: readonly number[],
  aOffset: number,
  b: NumArray,
  bStrides: readonly number[],
  bOffset: number,
  shape: readonly number[],
  out: NumArray,
): void {
  const zeros = new Array<number>(shape.length).fill(0);
  // Hot cases get their own loops so V8 sees one operation per loop.
  if (op === 'add') {
    forEachStrided3(shape, aStrides, aOffset, bStrides, bOffset, zeros, 0, (o, n, pa, da, pb, db) => {
      for (let i = 0; i < n; i++, pa += da, pb += db) out[o + i] = a[pa] + b[pb];
    });
    return;
  }
  if (op === 'mul') {
    forEachStrided3(shape, aStrides, aOffset, bStrides, bOffset, zeros, 0, (o, n, pa, da, pb, db) => {
      for (let i = 0; i < n; i++, pa += da, pb += db) out[o + i] = a[pa] * b[pb];
    });
    return;
  }
  const f = BINARY_OPS[op];
  forEachStrided3(shape, aStrides, aOffset, bStrides, bOffset, zeros, 0, (o, n, pa, da, pb, db) => {
    for (let i = 0; i < n; i++, pa += da, pb += db) out[o + i] = f(a[pa], b[pb]);
  });
}

/** out[i] = cond[i] != 0 ? a[i] : b[i], all three views broadcast to `shape`. */
export function whereStrided(
  cond: NumArray,
  cStrides: readonly number[],
  cOffset: number,
  a: NumArray,
  aStrides: readonly number[],
  aOffset: number,
  b: NumArray,
  bStrides: readonly number[],
  bOffset: number,
  shape: readonly number[],
  out: NumArray,
): void {
  forEachStrided3(shape, cStrides, cOffset, aStrides, aOffset, bStrides, bOffset, (o, n, pc, dc, pa, da, pb, db) => {
    for (let i = 0; i < n; i++, pc += dc, pa += da, pb += db) out[o + i] = cond[pc] !== 0 ? a[pa] : b[pb];
  });
}

/** Copy a strided view into contiguous `out` (converting dtype if `out` differs): out[i] = x[view i]. */
export function copyStrided(x: NumArray, shape: readonly number[], strides: readonly number[], offset: number, out: NumArray): void {
  const zeros = new Array<number>(shape.length).fill(0);
  forEachStrided3(shape, strides, offset, zeros, 0, zeros, 0, (o, n, pa, da) => {
    for (let i = 0; i < n; i++, pa += da) out[o + i] = x[pa];
  });
}

/** Write contiguous `x` into a view of `out`: out[offset + Σ i_d·strides_d] = x[i] (cat's slabs). */
export function scatterStrided(x: NumArray, shape: readonly number[], strides: readonly number[], offset: number, out: NumArray): void {
  const zeros = new Array<number>(shape.length).fill(0);
  forEachStrided3(shape, strides, offset, zeros, 0, zeros, 0, (o, n, pa, da) => {
    for (let i = 0; i < n; i++, pa += da) out[pa] = x[o + i];
  });
}

/**
 * The adjoint of a view: out = zeros(outSize); out[offset + Σ i_d·strides_d] += g[i].
 * "+=" makes it right for overlapping views too (the backward of expand / as_strided).
 */
export function scatterAddStrided(
  g: NumArray,
  shape: readonly number[],
  strides: readonly number[],
  offset: number,
  out: NumArray,
): void {
  const zeros = new Array<number>(shape.length).fill(0);
  forEachStrided3(shape, strides, offset, zeros, 0, zeros, 0, (o, n, pa, da) => {
    for (let i = 0; i < n; i++, pa += da) out[pa] = out[pa] + g[o + i];
  });
}
