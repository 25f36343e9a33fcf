// Reductions as a gpu.js kernel, the GPU twin of kernels/cpu/reduce.ts: the output has the
// keepdim shape (reduced dims become 1) and out[j] = ⊕ of x over every index that maps to j.
// Thread j finds its base position from the kept dims, then walks the reduced dims in nested
// loops with literal bounds and strides. max/min start from the first element (so no ±inf
// literal is needed) and let NaN win, as torch does. The accumulator is float32 (the CPU
// reference accumulates in float64), so sums differ by about √n·2⁻²⁴·Σ|x|.
import { kernelFunction, lit, stridedPositions } from './source.js';

export type GpuReduceOp = 'sum' | 'max' | 'min' | 'prod';

const COMBINE: Record<GpuReduceOp, string> = {
  sum: 'acc = acc + v;',
  prod: 'acc = acc * v;',
  max: 'acc = (v > acc || v != v) ? v : acc;',
  min: 'acc = (v < acc || v != v) ? v : acc;',
};

/** Largest literal loop bound (for loopMaxIterations). */
export function reduceLoopBound(shape: readonly number[], reduce: readonly boolean[]): number {
  return Math.max(1, ...shape.filter((_, d) => reduce[d]));
}

/**
 * The reduction kernel over x viewed as (shape, strides); `reduce[d]` marks reduced dims, each
 * of size ≥ 1 (reductions over nothing are a fill). Arguments: (xBuf, xOff).
 */
export function reduceSource(op: GpuReduceOp, shape: readonly number[], strides: readonly number[], reduce: readonly boolean[]): string {
  const kept = shape.map((n, d) => (reduce[d] ? 1 : n));
  const base = stridedPositions(kept, 'this.thread.x', [{ pos: 'p0', offsetArg: 'xOff', strides: kept.map((_, d) => (reduce[d] ? 0 : strides[d])) }]);
  const dims = shape.map((_, d) => d).filter((d) => reduce[d] && shape[d] > 1);
  const lines = [base, `let acc = ${op === 'sum' ? '0.0' : op === 'prod' ? '1.0' : 'xBuf[p0]'};`];
  let pos = 'p0';
  let indent = '';
  for (const d of dims) {
    lines.push(`${indent}for (let j${d} = 0; j${d} < ${shape[d]}; j${d}++) {`);
    indent += '  ';
    lines.push(`${indent}const p${d + 1}r = ${pos} + j${d} * ${lit(strides[d])};`);
    pos = `p${d + 1}r`;
  }
  lines.push(`${indent}const v = xBuf[${pos}];`, `${indent}${COMBINE[op]}`);
  for (let i = dims.length; i > 0; i--) {
    indent = indent.slice(2);
    lines.push(`${indent}}`);
  }
  lines.push('return acc;');
  return kernelFunction(['xBuf', 'xOff'], lines.join('\n  '));
}
