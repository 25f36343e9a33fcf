// In-place writes (assign, torch's copy_) under autograd, installed into core/tensor.ts.
//   - A leaf that requires grad cannot be written while grad mode is on (torch's rule): its
//     value is what gradients are taken with respect to. Optimizers and init write under noGrad.
//   - A tensor with a history (an op's output) gets a new one: after dst.assign(src) it holds
//     src's values, so dL/dsrc = dL/ddst (summed over broadcast dims) and the old history gets
//     zeros, as torch's CopyBackwards. Nodes recorded before the write keep their edges to the
//     old history, and any of them that reads dst's old values fails its version check.
//   - Cases torch supports through view tracking, which resgrad does not have, are refused with
//     a clear error instead of silently losing a gradient: writing into a view that has a
//     history, and copying a src that requires grad into a tensor without one.
// Every write bumps the storage's version (core/tensor.ts); that part needs no hook.
import { AutogradError } from '../core/errors.js';
import { type InplaceHooks, Tensor, setInplaceHooks } from '../core/tensor.js';
import { fmtTensor } from './anomaly.js';
import { isGradEnabled, record } from './graph.js';
import { sumToShape } from './ops/dispatch.js';
import { toDevice } from './ops/views.js';

const hooks: InplaceHooks = {
  check(dst, src, op) {
    if (!isGradEnabled()) return;
    if (dst.isLeaf && dst.requiresGrad) {
      throw new AutogradError(
        `${op}: a leaf tensor that requires grad ${fmtTensor(dst)} is being used in an in-place operation. ` +
          'Write it under noGrad(() => ...), as optimizers and init do, or write into a tensor that does not require grad.',
      );
    }
    if (dst.gradFn?.isView) {
      throw new AutogradError(
        `${op}: in-place write into ${fmtTensor(dst)}, a view ('${dst.gradFn.name}') of a tensor that has an autograd history, is not supported ` +
          '(the view\'s base would keep a stale history). Write into the base tensor itself, clone() the view first, or write under noGrad(() => ...).',
      );
    }
    if (!dst.gradFn && src.requiresGrad) {
      throw new AutogradError(
        `${op}: copying a tensor that requires grad into ${fmtTensor(dst)}, which has no autograd history, is not supported (other views of that storage would miss the gradient). ` +
          'Use src.clone() to get a tracked copy, or write under noGrad(() => ...) to copy only the values.',
      );
    }
  },
  rebase(dst, src, op) {
    const old = dst.gradFn;
    if (!isGradEnabled() || !old) return;
    // record() reads dst.gradFn as the edge of input 0 before it replaces it: the old history.
    record(
      dst,
      op,
      [dst, src],
      (g) => [zerosLike(g), src.requiresGrad ? sumToShape(src.device === g.device ? g : toDevice(g, src.device), src.shape, src.dtype) : null],
      [],
    );
  },
};

function zerosLike(t: Tensor): Tensor {
  return Tensor.fromBuffer(t.backend, t.backend.allocate(t.dtype, t.numel()), t.dtype, t.shape);
}

setInplaceHooks(hooks);
