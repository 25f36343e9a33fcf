// Classification losses as torch.nn.functional (1.13), built from differentiable ops so their
// gradients come from the chain rule (gather's backward scatters −w_i into the picked class;
// logSoftmax's backward turns that into softmax(x) − onehot):
//   nllLoss:       ℓ_i = −w[t_i] · x[i, t_i]  (0 where t_i = ignoreIndex)
//                  mean = Σ ℓ_i / Σ_{i not ignored} w[t_i];  sum = Σ ℓ_i;  none = ℓ
//   crossEntropy:  nllLoss(logSoftmax(x)), with label smoothing ε:
//                  (1 − ε)·nll + ε/C · smooth,  smooth_i = −Σ_c w[c] · logp[i, c] (0 where ignored),
//                  reduced like nll (mean divides by the same Σ w[t_i]);
//                  or with class-probability targets p (float, shaped like x):
//                  ℓ_i = −Σ_c w[c] · p'[i, c] · logp[i, c],  p' = (1 − ε)·p + ε/C,  mean = Σ ℓ_i / N.
import { DTypeError, DeviceError, ShapeError, ValueError, fmtShape } from '../../core/errors.js';
import type { Tensor } from '../../core/tensor.js';
import { add, div, eq, ge, lt, mul, ne, neg, where } from '../../autograd/ops/elementwise.js';
import { noGrad } from '../../autograd/graph.js';
import { gather, indexSelect } from '../../autograd/ops/join.js';
import { sum } from '../../autograd/ops/reduce.js';
import { logSoftmax } from '../../autograd/ops/softmax.js';
import { reshape, squeeze, toDtype, unsqueeze } from '../../autograd/ops/views.js';

export type Reduction = 'mean' | 'sum' | 'none';

export interface NllLossOptions {
  /** A manual rescaling weight per class, shape [C]. */
  weight?: Tensor | null;
  /** Targets equal to this contribute nothing (and are not counted by 'mean'). */
  ignoreIndex?: number;
  reduction?: Reduction;
}

export interface CrossEntropyOptions extends NllLossOptions {
  /** ε in [0, 1]: the target becomes (1 − ε)·onehot + ε/C. */
  labelSmoothing?: number;
}

function checkReduction(r: unknown, op: string): Reduction {
  if (r !== 'mean' && r !== 'sum' && r !== 'none') throw new ValueError(`${op}: ${String(r)} is not a valid value for reduction (expected 'mean', 'sum' or 'none')`);
  return r;
}

/** Class dim of the input (0 for an unbatched [C] input, else 1). */
const classDim = (x: Tensor): number => (x.ndim === 1 ? 0 : 1);

/** weight [C] shaped to broadcast against x along the class dim. */
function weightView(weight: Tensor, x: Tensor, op: string): Tensor {
  const c = x.shape[classDim(x)];
  if (weight.ndim !== 1 || weight.shape[0] !== c) {
    throw new ShapeError(`${op}: weight tensor should be defined either for all ${c} classes or no classes but got weight tensor of shape: ${fmtShape(weight.shape)}`);
  }
  return reshape(
    weight,
    x.shape.map((s, d) => (d === classDim(x) ? s : 1)),
  );
}

/** Per-element weighted losses −w[t]·x[t] and the per-element weights w[t] (0 where ignored). */
/**
 * Every target must be a class index in [0, c) or ignoreIndex. On the CPU we read them. On a
 * device, the GPU's gather would silently read 0 for a bad index, so we count the bad ones there
 * and read back that one number (a sync point, like CUDA's device-side assert). A device that can
 * only read asynchronously (webgpu, asyncMode) has no synchronous read, so there the check is
 * skipped: validate targets on the CPU before moving them.
 */
function checkTargets(target: Tensor, c: number, ignoreIndex: number, op: string): void {
  const fail = (t: number | string) => {
    throw new ValueError(`${op}: Target ${t} is out of bounds (input has ${c} classes)`);
  };
  if (target.device === 'cpu') {
    for (const t of target.toArray()) if (t !== ignoreIndex && (t < 0 || t >= c)) fail(t);
    return;
  }
  const bad = noGrad(() => sum(mul(ne(target, ignoreIndex), add(lt(target, 0), ge(target, c)))));
  let count: number;
  try {
    count = bad.item();
  } catch (e) {
    if (e instanceof DeviceError) return; // async-only device: no synchronous read exists (see above)
    throw e;
  } finally {
    bad.dispose();
  }
  if (count > 0) fail(`(${count} of them)`);
}

function nllTerms(x: Tensor, target: Tensor, weight: Tensor | null, ignoreIndex: number, op: string): [Tensor, Tensor] {
  if (x.ndim < 1) throw new ShapeError(`${op}: input must have at least 1 dimension, but got a scalar`);
  if (target.dtype !== 'int32') throw new DTypeError(`${op}: expected target of dtype int32 (class indices), but got ${target.dtype}`);
  const cd = classDim(x);
  const expected = x.shape.filter((_, d) => d !== cd);
  if (target.ndim !== expected.length || target.shape.some((s, d) => s !== expected[d])) {
    throw new ShapeError(`${op}: expected target of size ${fmtShape(expected)} for input of size ${fmtShape(x.shape)}, but got target of size ${fmtShape(target.shape)}`);
  }
  const c = x.shape[cd];
  checkTargets(target, c, ignoreIndex, op);
  const valid = ne(target, ignoreIndex);
  const safe = where(eq(target, ignoreIndex), 0, target);
  const picked = squeeze(gather(x, cd, unsqueeze(safe, cd)), cd);
  const perClass = weight ? reshape(indexSelect(weight, 0, reshape(safe, [-1])), target.shape) : null;
  const w = perClass ? mul(perClass, toDtype(valid, x.dtype)) : toDtype(valid, x.dtype);
  return [neg(mul(picked, w)), w];
}

function reduce(losses: Tensor, weights: Tensor, reduction: Reduction): Tensor {
  if (reduction === 'none') return losses;
  if (reduction === 'sum') return sum(losses);
  return div(sum(losses), sum(weights));
}

/** The negative log-likelihood of log-probabilities x ([N, C, ...] or [C]) at int32 targets. */
export function nllLoss(input: Tensor, target: Tensor, opts: NllLossOptions = {}): Tensor {
  const op = 'nllLoss';
  const reduction = checkReduction(opts.reduction ?? 'mean', op);
  if (opts.weight) weightView(opts.weight, input, op);
  const [losses, w] = nllTerms(input, target, opts.weight ?? null, opts.ignoreIndex ?? -100, op);
  return reduce(losses, w, reduction);
}

/** Cross entropy of logits x against int32 class indices or float class probabilities. */
export function crossEntropy(input: Tensor, target: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const op = 'crossEntropy';
  const reduction = checkReduction(opts.reduction ?? 'mean', op);
  const eps = opts.labelSmoothing ?? 0;
  if (!(eps >= 0 && eps <= 1)) throw new ValueError(`${op}: labelSmoothing must be between 0.0 and 1.0. Got: ${eps}`);
  const ignoreIndex = opts.ignoreIndex ?? -100;
  const weight = opts.weight ?? null;
  if (input.ndim < 1) throw new ShapeError(`${op}: input must have at least 1 dimension, but got a scalar`);
  const cd = classDim(input);
  const c = input.shape[cd];
  const wv = weight ? weightView(weight, input, op) : null;
  const logp = logSoftmax(input, cd);

  if (target.dtype !== 'int32') {
    // Class-probability targets.
    if (target.ndim !== input.ndim || target.shape.some((s, d) => s !== input.shape[d])) {
      throw new ShapeError(`${op}: expected probability target of the input's size ${fmtShape(input.shape)}, but got ${fmtShape(target.shape)}`);
    }
    if (opts.ignoreIndex !== undefined && opts.ignoreIndex !== -100) throw new ValueError(`${op}: ignoreIndex is not supported for floating point target`);
    const p = eps > 0 ? add(mul(target, 1 - eps), eps / c) : target;
    const terms = mul(mul(logp, p), wv ?? 1);
    if (reduction === 'none') return neg(sum(terms, cd));
    if (reduction === 'sum') return neg(sum(terms));
    return div(neg(sum(terms)), input.numel() / c);
  }

  const [nll, w] = nllTerms(logp, target, weight, ignoreIndex, op);
  if (eps === 0) return reduce(nll, w, reduction);
  const valid = toDtype(ne(target, ignoreIndex), input.dtype);
  const smooth = mul(neg(sum(wv ? mul(logp, wv) : logp, cd)), valid);
  const mix = (a: Tensor, b: Tensor): Tensor => add(mul(a, 1 - eps), mul(b, eps / c));
  if (reduction === 'none') return mix(nll, smooth);
  if (reduction === 'sum') return mix(sum(nll), sum(smooth));
  const denom = sum(w);
  return mix(div(sum(nll), denom), div(sum(smooth), denom));
}
