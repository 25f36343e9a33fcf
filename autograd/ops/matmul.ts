// matmul with torch's rules: 1-D operands are promoted to matrices (and the added dim removed
// after), leading batch dims broadcast. For C = A·B the gradients are dA = dC·Bᵀ, dB = Aᵀ·dC;
// transposes are stride swaps, so no data moves.
import { DTypeError, ShapeError, fmtShape } from '../../core/errors.js';
import { broadcastShapes } from '../../core/shape.js';
import type { Tensor } from '../../core/tensor.js';
import { record } from '../graph.js';
import { run1 } from './dispatch.js';
import { expand, squeeze, transpose, unsqueeze } from './views.js';

/** Batched product of a [...batch, M, K] and b [...batch, K, N] with identical batch shapes. */
function batchedMatmul(a: Tensor, b: Tensor): Tensor {
  const out = run1('matmul', [a, b]);
  // each operand is read only for the other's gradient (torch saves them the same way)
  return record(
    out,
    'matmul',
    [a, b],
    (g) => [a.requiresGrad ? batchedMatmul(g, transpose(b, -1, -2)) : null, b.requiresGrad ? batchedMatmul(transpose(a, -1, -2), g) : null],
    [a.requiresGrad ? b : null, b.requiresGrad ? a : null],
  );
}

export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.ndim === 0 || b.ndim === 0) {
    throw new ShapeError(`matmul: both arguments need at least 1 dimension, but got shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  }
  if (a.dtype !== b.dtype) {
    throw new DTypeError(`matmul: expected both arguments to have the same dtype, but got ${a.dtype} (input) and ${b.dtype} (other)`);
  }
  const A = a.ndim === 1 ? unsqueeze(a, 0) : a;
  const B = b.ndim === 1 ? unsqueeze(b, -1) : b;
  const K = A.shape[A.ndim - 1];
  if (B.shape[B.ndim - 2] !== K) {
    throw new ShapeError(
      `matmul: shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} cannot be multiplied ` +
        `(inner dimensions ${K} of 'input' and ${B.shape[B.ndim - 2]} of 'other' differ)`,
    );
  }
  const batch = broadcastShapes(A.shape.slice(0, -2), B.shape.slice(0, -2), 'matmul (batch dims)');
  const M = A.shape[A.ndim - 2];
  const N = B.shape[B.ndim - 1];
  let out = batchedMatmul(expand(A, [...batch, M, K]), expand(B, [...batch, K, N]));
  if (a.ndim === 1) out = squeeze(out, -2);
  if (b.ndim === 1) out = squeeze(out, -1);
  return out;
}
