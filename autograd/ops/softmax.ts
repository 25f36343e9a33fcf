// softmax and logSoftmax along one dim, with their backward written out:
//   y = softmax(x):    dx = y ⊙ (g − Σ_k g_k y_k)
//   y = logSoftmax(x): dx = g − softmax(x) ⊙ Σ_k g_k
import { assertFloat } from '../../core/dtype.js';
import { normalizeDim } from '../../core/shape.js';
import type { Tensor } from '../../core/tensor.js';
import { record } from '../graph.js';
import { run1 } from './dispatch.js';
import { exp, mul, sub } from './elementwise.js';
import { sum } from './reduce.js';
import { contiguous } from './views.js';

export function softmax(x: Tensor, dim: number): Tensor {
  assertFloat(x.dtype, 'softmax');
  const d = normalizeDim(dim, x.ndim, 'softmax');
  const y = run1('softmax', [contiguous(x)], { dim: d, log: false });
  return record(y, 'softmax', [x], (g) => [mul(y, sub(g, sum(mul(g, y), d, true)))], [y]);
}

export function logSoftmax(x: Tensor, dim: number): Tensor {
  assertFloat(x.dtype, 'logSoftmax');
  const d = normalizeDim(dim, x.ndim, 'logSoftmax');
  const y = run1('softmax', [contiguous(x)], { dim: d, log: true });
  return record(y, 'logSoftmax', [x], (g) => [sub(g, mul(exp(y), sum(g, d, true)))], [y]);
}
