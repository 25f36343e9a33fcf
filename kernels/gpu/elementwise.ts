// Elementwise gpu.js kernel sources: copy (strided view → contiguous, with a cast), unary,
// binary and where. Operands arrive as strided views already broadcast to the output shape
// (a broadcast dim has stride 0), exactly as the CPU kernels in kernels/cpu/elementwise.ts
// take them: out[i] = f(a[offA + Σ i_d·sa_d], b[offB + Σ i_d·sb_d]).
//
// The op formulas are written in the subset gpu.js translates to GLSL ES 1.0, and guard
// against GLSL's gaps: pow() is undefined for a negative base (we use |a|^b with the sign of
// an integer exponent's parity), and the textbook tanh (e^2x - 1)/(e^2x + 1) overflows to
// inf/inf, so tanh uses e = exp(-2|x|) (and a short odd series near 0, where 1 - e cancels).
// NaN handling follows IEEE only as far as the GPU's compiler keeps `x != x`.
import { type StridedOperand, kernelFunction, lit, stridedPositions } from './source.js';

export type GpuUnaryOp = 'neg' | 'exp' | 'log' | 'sqrt' | 'abs' | 'relu' | 'sigmoid' | 'tanh' | 'sign' | 'reciprocal';
export type GpuBinaryOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum'
  | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'reluBackward' | 'addRelu';

// tanh x = sign(x)·(1 - e)/(1 + e) with e = exp(-2|x|); for |x| < 0.1 the series
// x - x³/3 + 2x⁵/15 - 17x⁷/315 (next term < 1e-10 relative).
const TANH =
  '(Math.abs(x) < 0.1 ? x * (1.0 - x * x * (1.0 / 3.0 - x * x * (2.0 / 15.0 - x * x * (17.0 / 315.0)))) : ' +
  'Math.sign(x) * (1.0 - Math.exp(-2.0 * Math.abs(x))) / (1.0 + Math.exp(-2.0 * Math.abs(x))))';

/** y = f(x) for each unary op, as an expression in `x`. */
export const GPU_UNARY: Record<GpuUnaryOp, string> = {
  neg: '-x',
  exp: 'Math.exp(x)',
  log: 'Math.log(x)',
  sqrt: 'Math.sqrt(x)',
  abs: 'Math.abs(x)',
  relu: '(x > 0.0 ? x : (x != x ? x : 0.0))',
  sigmoid: '1.0 / (1.0 + Math.exp(-x))',
  tanh: TANH,
  sign: 'Math.sign(x)',
  reciprocal: '1.0 / x',
};

// a^b: 1 for b = 0; for a < 0 and integer b, ±|a|^b by the parity of b; else GLSL pow.
const POW =
  '(b == 0.0 ? 1.0 : (a < 0.0 && Math.floor(b) == b) ? ' +
  '(Math.floor(b * 0.5) == b * 0.5 ? 1.0 : -1.0) * Math.pow(-a, b) : Math.pow(a, b))';

/** out = a ∘ b for each binary op, as an expression in `a` and `b`; comparisons give 1 or 0. */
export const GPU_BINARY: Record<GpuBinaryOp, string> = {
  add: 'a + b',
  sub: 'a - b',
  mul: 'a * b',
  div: 'a / b',
  pow: POW,
  // NaN wins, as torch.maximum / torch.minimum: a + b is NaN when either is.
  maximum: '((a != a || b != b) ? a + b : (a > b ? a : b))',
  minimum: '((a != a || b != b) ? a + b : (a < b ? a : b))',
  eq: '(a == b ? 1.0 : 0.0)',
  ne: '(a != b ? 1.0 : 0.0)',
  lt: '(a < b ? 1.0 : 0.0)',
  le: '(a <= b ? 1.0 : 0.0)',
  gt: '(a > b ? 1.0 : 0.0)',
  ge: '(a >= b ? 1.0 : 0.0)',
  reluBackward: '(a <= 0.0 ? 0.0 : b)',
  // relu(a + b), NaN kept as the unary relu
  addRelu: '((a + b) > 0.0 ? (a + b) : ((a + b) != (a + b) ? (a + b) : 0.0))',
};

const operand = (name: string, strides: readonly number[]): StridedOperand => ({ pos: `p${name}`, offsetArg: `${name}Off`, strides });

/**
 * copy: out[i] = x[view i]. With `truncate` (a cast to int32, carried as float) the value is
 * rounded toward zero, as a JS store into an Int32Array does.
 * Kernel arguments: (xBuf, xOff).
 */
export function copySource(shape: readonly number[], strides: readonly number[], truncate: boolean): string {
  const value = truncate ? '(v < 0.0 ? -Math.floor(-v) : Math.floor(v))' : 'v';
  return kernelFunction(
    ['xBuf', 'xOff'],
    `${stridedPositions(shape, 'this.thread.x', [operand('x', strides)])}\n  const v = xBuf[px];\n  return ${value};`,
  );
}

/** unary: out[i] = f(x[view i]). Kernel arguments: (xBuf, xOff). */
export function unarySource(op: GpuUnaryOp, shape: readonly number[], strides: readonly number[]): string {
  return kernelFunction(
    ['xBuf', 'xOff'],
    `${stridedPositions(shape, 'this.thread.x', [operand('x', strides)])}\n  const x = xBuf[px];\n  return ${GPU_UNARY[op]};`,
  );
}

/** binary: out[i] = a[view i] ∘ b[view i]. Kernel arguments: (aBuf, bBuf, aOff, bOff). */
export function binarySource(op: GpuBinaryOp, shape: readonly number[], aStrides: readonly number[], bStrides: readonly number[]): string {
  const pos = stridedPositions(shape, 'this.thread.x', [operand('a', aStrides), operand('b', bStrides)]);
  return kernelFunction(['aBuf', 'bBuf', 'aOff', 'bOff'], `${pos}\n  const a = aBuf[pa];\n  const b = bBuf[pb];\n  return ${GPU_BINARY[op]};`);
}

/** where: out[i] = c[view i] != 0 ? a[view i] : b[view i]. Arguments: (cBuf, aBuf, bBuf, cOff, aOff, bOff). */
export function whereSource(shape: readonly number[], cStrides: readonly number[], aStrides: readonly number[], bStrides: readonly number[]): string {
  const pos = stridedPositions(shape, 'this.thread.x', [operand('c', cStrides), operand('a', aStrides), operand('b', bStrides)]);
  return kernelFunction(['cBuf', 'aBuf', 'bBuf', 'cOff', 'aOff', 'bOff'], `${pos}\n  return cBuf[pc] != 0.0 ? aBuf[pa] : bBuf[pb];`);
}

/** fill: out[i] = value (zero buffers, reductions over nothing). No arguments. */
export function fillSource(value: number): string {
  return kernelFunction([], `return ${lit(value)};`);
}

/** upload: out[i] = x[i] — turns a host array into a device buffer. Arguments: (xBuf). */
export function uploadSource(): string {
  return kernelFunction(['xBuf'], 'return xBuf[this.thread.x];');
}
