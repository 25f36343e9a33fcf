// The ops of test/oracle/gen_core.py, by name, in resgrad: one table drives both the float64
// gradcheck and the PyTorch parity tests of the core ops. `attrs` are the case's attributes.
import { type Tensor, autograd as ag, zeros } from '../../index.js';
import type { OracleCase } from '../helpers/oracle.js';

export type Attrs = Record<string, unknown>;
type OpFn = (xs: Tensor[], a: Attrs) => Tensor;

const num = (a: Attrs, k: string): number => a[k] as number;
const dims = (a: Attrs): number | number[] | undefined => (a.dim ?? undefined) as number | number[] | undefined;

/** A binary op whose right operand is either the second input or the case's Python scalar. */
const binary =
  (f: (x: Tensor, y: Tensor | number) => Tensor): OpFn =>
  (xs, a) =>
    f(xs[0]!, a.scalar !== undefined ? num(a, 'scalar') : xs[1]!);

/** A view op, optionally applied after a permute (to exercise non-contiguous inputs). */
const viewOp =
  (f: (x: Tensor, a: Attrs) => Tensor): OpFn =>
  (xs, a) =>
    f(a.permuteFirst ? ag.permute(xs[0]!, a.permuteFirst as number[]) : xs[0]!, a);

export const CORE_OPS: Record<string, OpFn> = {
  add: binary(ag.add),
  sub: binary(ag.sub),
  mul: binary(ag.mul),
  div: binary(ag.div),
  pow: binary(ag.pow),
  maximum: binary(ag.maximum),
  minimum: binary(ag.minimum),
  addRelu: binary(ag.addRelu),
  where: (xs) => ag.where(xs[0]!, xs[1]!, xs[2]!),
  neg: (xs) => ag.neg(xs[0]!),
  exp: (xs) => ag.exp(xs[0]!),
  log: (xs) => ag.log(xs[0]!),
  sqrt: (xs) => ag.sqrt(xs[0]!),
  abs: (xs) => ag.abs(xs[0]!),
  relu: (xs) => ag.relu(xs[0]!),
  sigmoid: (xs) => ag.sigmoid(xs[0]!),
  tanh: (xs) => ag.tanh(xs[0]!),
  sign: (xs) => ag.sign(xs[0]!),
  square: (xs) => ag.square(xs[0]!),
  sum: (xs, a) => ag.sum(xs[0]!, dims(a), a.keepdim === true),
  mean: (xs, a) => ag.mean(xs[0]!, dims(a), a.keepdim === true),
  max: (xs, a) => ag.max(xs[0]!, dims(a), a.keepdim === true),
  min: (xs, a) => ag.min(xs[0]!, dims(a), a.keepdim === true),
  std: (xs, a) => ag.sqrt(ag.variance(xs[0]!, dims(a), { keepdim: a.keepdim === true })),
  var: (xs, a) => ag.variance(xs[0]!, dims(a), { unbiased: a.unbiased as boolean | undefined, keepdim: a.keepdim === true }),
  matmul: (xs) => ag.matmul(xs[0]!, xs[1]!),
  // no gradient: int32 results
  eq: (xs) => ag.eq(xs[0]!, xs[1]!),
  ne: (xs) => ag.ne(xs[0]!, xs[1]!),
  lt: (xs) => ag.lt(xs[0]!, xs[1]!),
  le: (xs) => ag.le(xs[0]!, xs[1]!),
  gt: (xs) => ag.gt(xs[0]!, xs[1]!),
  ge: (xs) => ag.ge(xs[0]!, xs[1]!),
  argmax: (xs, a) => ag.argmax(xs[0]!, a.dim as number | undefined, a.keepdim === true),
  argmin: (xs, a) => ag.argmin(xs[0]!, a.dim as number | undefined, a.keepdim === true),
  softmax: (xs, a) => ag.softmax(xs[0]!, num(a, 'dim')),
  logSoftmax: (xs, a) => ag.logSoftmax(xs[0]!, num(a, 'dim')),
  cat: (xs, a) => ag.cat(xs, num(a, 'dim')),
  stack: (xs, a) => ag.stack(xs, num(a, 'dim')),
  gather: (xs, a) => ag.gather(xs[0]!, num(a, 'dim'), xs[1]!),
  indexSelect: (xs, a) => ag.indexSelect(xs[0]!, num(a, 'dim'), xs[1]!),
  view: viewOp((x, a) => ag.view(x, a.shape as number[])),
  reshape: viewOp((x, a) => ag.reshape(x, a.shape as number[])),
  flatten: viewOp((x, a) => ag.flatten(x, num(a, 'startDim'), num(a, 'endDim'))),
  permute: viewOp((x, a) => ag.permute(x, a.dims as number[])),
  transpose: viewOp((x, a) => ag.transpose(x, num(a, 'dim0'), num(a, 'dim1'))),
  t: viewOp((x) => ag.t(x)),
  expand: viewOp((x, a) => ag.expand(x, a.shape as number[])),
  expandAs: viewOp((x, a) => ag.expandAs(x, zeros(a.shape as number[]))),
  squeeze: viewOp((x, a) => ag.squeeze(x, a.dim as number | undefined)),
  unsqueeze: viewOp((x, a) => ag.unsqueeze(x, num(a, 'dim'))),
  slice: viewOp((x, a) => ag.slice(x, num(a, 'dim'), num(a, 'start'), num(a, 'end'), num(a, 'step'))),
  narrow: viewOp((x, a) => ag.narrow(x, num(a, 'dim'), num(a, 'start'), num(a, 'length'))),
  select: viewOp((x, a) => ag.select(x, num(a, 'dim'), num(a, 'index'))),
  contiguous: viewOp((x) => ag.contiguous(x)),
  clone: viewOp((x) => ag.clone(x)),
  toDtype: viewOp((x) => ag.toDtype(ag.toDtype(x, 'float32'), x.dtype)),
};

/** Run one oracle case's op on the given inputs. */
export function runCase(c: OracleCase, xs: Tensor[]): Tensor {
  const f = CORE_OPS[c.op as string];
  if (!f) throw new Error(`no resgrad op for oracle op '${String(c.op)}'`);
  return f(xs, c.attrs as Attrs);
}
