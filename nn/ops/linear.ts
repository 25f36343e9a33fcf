// F.linear(x, W, b) = x·Wᵀ + b for x [..., in], W [out, in], b [out]. Built from matmul (whose
// backward gives dx = dy·W and dW = dyᵀ·x) on x flattened to [rows, in], plus a broadcast add
// (whose backward sums dy over the rows for db).
import { DTypeError, ShapeError, fmtShape } from '../../core/errors.js';
import type { Tensor } from '../../core/tensor.js';
import { add } from '../../autograd/ops/elementwise.js';
import { matmul } from '../../autograd/ops/matmul.js';
import { reshape, transpose } from '../../autograd/ops/views.js';

export function linear(input: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  const op = 'linear';
  if (weight.ndim !== 2) throw new ShapeError(`${op}: argument 'weight' must be 2-D [out, in], but got size ${fmtShape(weight.shape)}`);
  if (input.ndim < 1) throw new ShapeError(`${op}: argument 'input' must have at least 1 dimension, but got a scalar`);
  const [outF, inF] = weight.shape as [number, number];
  if (input.shape[input.ndim - 1] !== inF) {
    throw new ShapeError(`${op}: mat1 and mat2 shapes cannot be multiplied (input ${fmtShape(input.shape)} and weight ${fmtShape(weight.shape)}: expected input's last dim to be ${inF})`);
  }
  if (input.dtype !== weight.dtype) throw new DTypeError(`${op}: expected input and weight to have the same dtype, but got ${input.dtype} and ${weight.dtype}`);
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== outF)) {
    throw new ShapeError(`${op}: expected bias of size [${outF}], but got ${fmtShape(bias.shape)}`);
  }
  const lead = input.shape.slice(0, -1);
  const rows = reshape(input, [-1, inF]);
  let y = matmul(rows, transpose(weight, 0, 1));
  if (bias) y = add(y, bias);
  return reshape(y, [...lead, outF]);
}
