// Elementwise ops with broadcasting, each forward next to its backward (the local derivative
// times the incoming gradient, then summed back to the input's shape where it was broadcast).
import type { UnaryOp } from '../../kernels/cpu/elementwise.js';
import { type DType, assertFloat, resultType as promoteTensors } from '../../core/dtype.js';
import { broadcastShapes, broadcastStrides } from '../../core/shape.js';
import { Tensor } from '../../core/tensor.js';
import { record } from '../graph.js';
import { type TensorLike, makeView, run1, sumToShape, toTensor } from './dispatch.js';

type BinaryKernelOp = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum' | 'reluBackward' | 'addRelu';
type CompareOp = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';

/** x as `dtype` (copied only when it differs) viewed with `shape`: broadcast dims get stride 0. */
function broadcastTo(x: Tensor, shape: readonly number[], dtype: DType = x.dtype): Tensor {
  const c = x.dtype === dtype ? x : run1('copy', [x], { dtype });
  return makeView(c, shape, broadcastStrides(c.shape, c.strides, shape), c.offset);
}

/** Views of a and b broadcast to a common shape, cast to a common dtype. */
function broadcastPair(name: string, a: Tensor, b: Tensor, dtype: DType): [Tensor, Tensor] {
  const shape = broadcastShapes(a.shape, b.shape, name);
  return [broadcastTo(a, shape, dtype), broadcastTo(b, shape, dtype)];
}

function binaryKernel(op: BinaryKernelOp | CompareOp, a: Tensor, b: Tensor, dtype: DType, outDtype: DType): Tensor {
  const [va, vb] = broadcastPair(op, a, b, dtype);
  return run1('binary', [va, vb], { op, dtype: outDtype });
}

/** Result dtype of an arithmetic op between a and b. */
function resultType(op: string, a: Tensor, b: Tensor): DType {
  const t = promoteTensors(a, b);
  return op === 'div' && t === 'int32' ? 'float32' : t; // true division, as torch
}

export function add(a: Tensor, other: TensorLike): Tensor {
  const b = toTensor(other, a);
  const out = binaryKernel('add', a, b, resultType('add', a, b), resultType('add', a, b));
  // d(a+b)/da = 1, d(a+b)/db = 1
  return record(out, 'add', [a, b], (g) => [sumToShape(g, a.shape, a.dtype), sumToShape(g, b.shape, b.dtype)], []);
}

export function sub(a: Tensor, other: TensorLike): Tensor {
  const b = toTensor(other, a);
  const out = binaryKernel('sub', a, b, resultType('sub', a, b), resultType('sub', a, b));
  return record(out, 'sub', [a, b], (g) => [sumToShape(g, a.shape, a.dtype), sumToShape(neg(g), b.shape, b.dtype)], []);
}

export function mul(a: Tensor, other: TensorLike): Tensor {
  const b = toTensor(other, a);
  const out = binaryKernel('mul', a, b, resultType('mul', a, b), resultType('mul', a, b));
  // d(ab)/da = b, d(ab)/db = a: each operand is read only for the other's gradient
  return record(
    out,
    'mul',
    [a, b],
    (g) => [a.requiresGrad ? sumToShape(mul(g, b), a.shape, a.dtype) : null, b.requiresGrad ? sumToShape(mul(g, a), b.shape, b.dtype) : null],
    [a.requiresGrad ? b : null, b.requiresGrad ? a : null],
  );
}

export function div(a: Tensor, other: TensorLike): Tensor {
  const b = toTensor(other, a);
  const t = resultType('div', a, b);
  const out = binaryKernel('div', a, b, t, t);
  // d(a/b)/da = 1/b, d(a/b)/db = -a/b² = -out/b
  return record(
    out,
    'div',
    [a, b],
    (g) => [
      a.requiresGrad ? sumToShape(div(g, b), a.shape, a.dtype) : null,
      b.requiresGrad ? sumToShape(neg(div(mul(g, out), b)), b.shape, b.dtype) : null,
    ],
    [b, b.requiresGrad ? out : null],
  );
}

/** a ** b. d/da = b·a^(b-1); d/db = a^b·ln a (taken as 0 where a = 0 and b >= 0, as torch). */
export function pow(a: Tensor, exponent: TensorLike): Tensor {
  const b = toTensor(exponent, a);
  const t = resultType('pow', a, b);
  const out = binaryKernel('pow', a, b, t, t);
  return record(out, 'pow', [a, b], (g) => {
    const ga = a.requiresGrad ? sumToShape(mul(g, mul(b, pow(a, sub(b, 1)))), a.shape, a.dtype) : null;
    let gb: Tensor | null = null;
    if (b.requiresGrad) {
      const safe = where(logicalAnd(eq(a, 0), ge(b, 0)), 0, mul(out, log(a)));
      gb = sumToShape(mul(g, safe), b.shape, b.dtype);
    }
    return [ga, gb];
  }, [a, b, b.requiresGrad ? out : null]);
}

/**
 * maximum/minimum: the gradient goes to the larger (smaller) input; on ties it is split in
 * half between the two, as torch does.
 */
function extremum(op: 'maximum' | 'minimum', a: Tensor, other: TensorLike): Tensor {
  const b = toTensor(other, a);
  const t = resultType(op, a, b);
  const out = binaryKernel(op, a, b, t, t);
  return record(out, op, [a, b], (g) => {
    const wins = op === 'maximum' ? gt(a, b) : lt(a, b);
    const tie = eq(a, b);
    const half = mul(g, 0.5);
    const ga = where(wins, g, where(tie, half, 0));
    const gb = where(wins, 0, where(tie, half, g));
    return [sumToShape(ga, a.shape, a.dtype), sumToShape(gb, b.shape, b.dtype)];
  }, [a, b]);
}
export const maximum = (a: Tensor, b: TensorLike): Tensor => extremum('maximum', a, b);
export const minimum = (a: Tensor, b: TensorLike): Tensor => extremum('minimum', a, b);

// Comparisons give int32 masks of 0/1 (resgrad has no bool dtype) and no gradient.
function compare(op: CompareOp, a: Tensor, other: TensorLike): Tensor {
  const b = toTensor(other, a);
  return binaryKernel(op, a, b, promoteTensors(a, b), 'int32');
}
export const eq = (a: Tensor, b: TensorLike): Tensor => compare('eq', a, b);
export const ne = (a: Tensor, b: TensorLike): Tensor => compare('ne', a, b);
export const lt = (a: Tensor, b: TensorLike): Tensor => compare('lt', a, b);
export const le = (a: Tensor, b: TensorLike): Tensor => compare('le', a, b);
export const gt = (a: Tensor, b: TensorLike): Tensor => compare('gt', a, b);
export const ge = (a: Tensor, b: TensorLike): Tensor => compare('ge', a, b);
export const logicalAnd = (a: Tensor, b: Tensor): Tensor => mul(ne(a, 0), ne(b, 0));

/** where(cond, a, b): a where cond != 0, else b; broadcasting all three. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  // A scalar takes the dtype of the tensor beside it (float32 when both are scalars).
  const ref = typeof a !== 'number' ? a : typeof b !== 'number' ? b : Tensor.fromArray(new Float32Array(1), [], cond.backend);
  const ta = toTensor(a, ref);
  const tb = toTensor(b, ref);
  const dtype = promoteTensors(ta, tb);
  const shape = broadcastShapes(broadcastShapes(cond.shape, ta.shape, 'where', ['condition', 'input']), tb.shape, 'where', ['condition/input', 'other']);
  const out = run1('where', [broadcastTo(cond, shape), broadcastTo(ta, shape, dtype), broadcastTo(tb, shape, dtype)]);
  return record(out, 'where', [cond, ta, tb], (g) => [
    null,
    sumToShape(where(cond, g, 0), ta.shape, ta.dtype),
    sumToShape(where(cond, 0, g), tb.shape, tb.dtype),
  ], [cond]);
}

// ---- unary ops -------------------------------------------------------------------------

function unaryKernel(op: UnaryOp, x: Tensor): Tensor {
  return run1('unary', [x], { op });
}

export function neg(x: Tensor): Tensor {
  return record(unaryKernel('neg', x), 'neg', [x], (g) => [neg(g)], []);
}

/** d exp(x) = exp(x) */
export function exp(x: Tensor): Tensor {
  assertFloat(x.dtype, 'exp');
  const out = unaryKernel('exp', x);
  return record(out, 'exp', [x], (g) => [mul(g, out)], [out]);
}

/** d log(x) = 1/x */
export function log(x: Tensor): Tensor {
  assertFloat(x.dtype, 'log');
  return record(unaryKernel('log', x), 'log', [x], (g) => [div(g, x)]);
}

/** d sqrt(x) = 1 / (2 sqrt(x)) */
export function sqrt(x: Tensor): Tensor {
  assertFloat(x.dtype, 'sqrt');
  const out = unaryKernel('sqrt', x);
  return record(out, 'sqrt', [x], (g) => [div(g, mul(out, 2))], [out]);
}

/** d|x| = sign(x) (0 at 0) */
export function abs(x: Tensor): Tensor {
  return record(unaryKernel('abs', x), 'abs', [x], (g) => [mul(g, unaryKernel('sign', x))]);
}

export function sign(x: Tensor): Tensor {
  return record(unaryKernel('sign', x), 'sign', [x], (g) => [mul(g, 0)], []);
}

/** relu(x) = max(x, 0); d relu = 1 where x > 0 else 0 */
export function relu(x: Tensor): Tensor {
  const out = unaryKernel('relu', x);
  // dx = g · [x > 0] (0 at x = 0 and for NaN, as torch), one fused pass
  return record(out, 'relu', [x], (g) => [binaryKernel('reluBackward', x, g, g.dtype, g.dtype)]);
}

/**
 * relu(a + b) in one pass, as a residual block ends (not in torch.nn.functional, which composes
 * the two). d/da = d/db = g·[y > 0], summed back over broadcast dims.
 */
export function addRelu(a: Tensor, other: TensorLike): Tensor {
  const b = toTensor(other, a);
  const t = resultType('add', a, b);
  const out = binaryKernel('addRelu', a, b, t, t);
  return record(
    out,
    'addRelu',
    [a, b],
    (g) => {
      // g·[y > 0]: relu's mask read off its output (y ≤ 0 exactly where a + b ≤ 0; a NaN passes g)
      const m = binaryKernel('reluBackward', out, g, g.dtype, g.dtype);
      return [sumToShape(m, a.shape, a.dtype), sumToShape(m, b.shape, b.dtype)];
    },
    [out],
  );
}

/** σ(x) = 1/(1+e^-x); dσ = σ(1-σ) */
export function sigmoid(x: Tensor): Tensor {
  assertFloat(x.dtype, 'sigmoid');
  const out = unaryKernel('sigmoid', x);
  return record(out, 'sigmoid', [x], (g) => [mul(g, mul(out, sub(scalarOne(out), out)))], [out]);
}

/** d tanh = 1 - tanh² */
export function tanh(x: Tensor): Tensor {
  assertFloat(x.dtype, 'tanh');
  const out = unaryKernel('tanh', x);
  return record(out, 'tanh', [x], (g) => [mul(g, sub(scalarOne(out), mul(out, out)))], [out]);
}

export function square(x: Tensor): Tensor {
  return mul(x, x);
}

function scalarOne(like: Tensor): Tensor {
  return toTensor(1, like);
}
