// Dropout (Srivastava et al. 2014), "inverted" as torch does it: in training each element is
// kept with probability 1-p and scaled by 1/(1-p), so the expected output equals the input and
// eval mode is the identity. y = x·m with m_i ∈ {0, 1/(1-p)}, hence dy/dx = m: the backward
// multiplies the gradient by the same mask.
import { type DType, allocArray, assertFloat } from '../../core/dtype.js';
import { ValueError } from '../../core/errors.js';
import { type Generator, defaultGenerator } from '../../core/random.js';
import { Tensor } from '../../core/tensor.js';
import { record } from '../../autograd/graph.js';
import { run1 } from '../../autograd/ops/dispatch.js';

export interface DropoutOptions {
  /** Random source for the mask (default: the global generator seeded by manualSeed). */
  generator?: Generator;
}

/** The scaled keep-mask m (0 or 1/(1-p)), drawn element by element in row-major order. */
export function dropoutMask(shape: readonly number[], p: number, dtype: DType, generator: Generator = defaultGenerator): Tensor {
  let n = 1;
  for (const s of shape) n *= s;
  const m = allocArray(dtype, n);
  const scale = 1 / (1 - p);
  const keep = 1 - p;
  for (let i = 0; i < n; i++) m[i] = generator.uniform() < keep ? scale : 0;
  return Tensor.fromArray(m, shape);
}

/** F.dropout(x, p, training): zero elements with probability p and rescale the rest by 1/(1-p). */
export function dropout(x: Tensor, p = 0.5, training = true, opts: DropoutOptions = {}): Tensor {
  if (!(p >= 0 && p <= 1)) throw new ValueError(`dropout: probability has to be between 0 and 1, but got ${p}`);
  assertFloat(x.dtype, 'dropout');
  if (!training || p === 0) return x;
  // p = 1: nothing is kept (u < 0 never holds), so the mask is all zeros, as torch's output.
  const host = dropoutMask(x.shape, p, x.dtype, opts.generator);
  const mask = x.device === 'cpu' ? host : Tensor.fromArray(host.toArray(), x.shape, x.backend);
  const out = run1('binary', [x, mask], { op: 'mul', dtype: x.dtype });
  return record(out, 'dropout', [x], (g) => [run1('binary', [g, mask], { op: 'mul', dtype: g.dtype })]);
}
