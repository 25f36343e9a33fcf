// The optimizer base: parameter groups (each with its own hyper-parameters, as torch's
// param_groups), per-parameter state, zeroGrad. Subclasses implement step(), which updates each
// parameter in place with Tensor.assign so modules keep their tensor objects.
import { DTypeError, ValueError } from '../../core/errors.js';
import { Tensor } from '../../core/tensor.js';
import { withGradEnabled } from '../../autograd/graph.js';

/** A group of parameters with the options that apply to them (missing options take the defaults). */
export type ParamGroupSpec<O> = Partial<O> & { params: Iterable<Tensor> };
/** A live parameter group: schedulers change `lr` here; `initialLr` is set by the first scheduler. */
export type ParamGroup<O> = O & { params: Tensor[]; initialLr?: number };

/** What an optimizer is built from: the parameters, or a list of groups with their own options. */
export type Params<O> = Iterable<Tensor> | ParamGroupSpec<O>[];

export abstract class Optimizer<O extends { lr: number } = { lr: number }, S = unknown> {
  readonly paramGroups: ParamGroup<O>[] = [];
  /** Per-parameter state (momentum buffers, moment estimates), created on the first step. */
  readonly state = new Map<Tensor, S>();
  readonly defaults: O;

  constructor(params: Params<O>, defaults: O) {
    this.defaults = defaults;
    const list = [...(params as Iterable<Tensor | ParamGroupSpec<O>>)];
    if (list.length === 0) throw new ValueError(`${this.constructor.name}: optimizer got an empty parameter list`);
    if (list[0] instanceof Tensor) this.addParamGroup({ params: list as Tensor[] } as unknown as ParamGroupSpec<O>);
    else for (const g of list as ParamGroupSpec<O>[]) this.addParamGroup(g);
  }

  /** Add a group (e.g. a new head during fine-tuning) with its own options. */
  addParamGroup(spec: ParamGroupSpec<O>): void {
    const name = this.constructor.name;
    const params = spec.params instanceof Tensor ? [spec.params] : [...spec.params];
    const taken = new Set(this.paramGroups.flatMap((g) => g.params));
    params.forEach((p, i) => {
      if (!(p instanceof Tensor)) throw new ValueError(`${name}: params[${i}] is not a Tensor`);
      if (!p.isLeaf) throw new ValueError(`${name}: can't optimize a non-leaf Tensor (params[${i}])`);
      if (p.dtype === 'int32') throw new DTypeError(`${name}: params[${i}] is int32; only floating point tensors can be optimized`);
      if (taken.has(p)) throw new ValueError(`${name}: some parameters appear in more than one parameter group`);
      taken.add(p);
    });
    const group = { ...this.defaults, ...spec, params } as ParamGroup<O>;
    this.validate(group);
    this.paramGroups.push(group);
  }

  /** Check a group's options (subclasses throw ValueError with torch's messages). */
  protected validate(group: O): void {
    if (!(group.lr >= 0)) throw new ValueError(`Invalid learning rate: ${group.lr}`);
  }

  /** Drop every gradient (setToNone, the default) or zero it in place. */
  zeroGrad(setToNone = true): void {
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        if (!p.grad) continue;
        if (setToNone) p.grad = null;
        else p.grad.assign(Tensor.fromArray(new Float64Array(1), []));
      }
    }
  }

  /**
   * One update of every parameter that has a gradient. With a closure (which zeroes the grads,
   * recomputes the loss and calls backward), the closure runs first and its loss is returned.
   */
  step(closure?: () => Tensor): Tensor | undefined {
    const loss = closure ? withGradEnabled(true, closure) : undefined;
    for (const group of this.paramGroups) this.updateGroup(group);
    return loss;
  }

  /** Update the parameters of one group (called under noGrad-free context; use noGrad inside). */
  protected abstract updateGroup(group: ParamGroup<O>): void;
}
