// The small layers every model is glued from: Linear, ReLU, Flatten, Dropout, Identity, and the
// Sequential container. Constructors, defaults and init follow torch.nn.
import { zeros } from '../../core/creation.js';
import type { FloatDType } from '../../core/dtype.js';
import { ValueError } from '../../core/errors.js';
import type { Tensor } from '../../core/tensor.js';
import type { Generator } from '../../core/random.js';
import { relu } from '../../autograd/ops/elementwise.js';
import { flatten } from '../../autograd/ops/views.js';
import { kaimingUniform, uniform } from '../init.js';
import { Module } from '../module.js';
import { dropout } from '../ops/dropout.js';
import { linear } from '../ops/linear.js';

export interface LinearOptions {
  bias?: boolean;
  dtype?: FloatDType;
  /** Draw the initial values from this generator (default: the global one). */
  generator?: Generator;
}

/**
 * nn.Linear(inFeatures, outFeatures): y = x·Wᵀ + b over the last dim, W [out, in] as torch. Init as torch's reset_parameters: W ~ kaiming uniform with
 * a = sqrt(5), which works out to U(-1/sqrt(in), 1/sqrt(in)), and b ~ U(-1/sqrt(in), 1/sqrt(in)).
 */
export class Linear extends Module {
  weight!: Tensor;
  bias!: Tensor | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: LinearOptions = {},
  ) {
    super();
    for (const [arg, v] of [['inFeatures', inFeatures], ['outFeatures', outFeatures]] as const) {
      if (!Number.isInteger(v) || v < 0) throw new ValueError(`Linear: argument '${arg}' must be a non-negative integer, but got ${v}`);
    }
    const dtype = opts.dtype ?? 'float32';
    this.registerParameter('weight', zeros([outFeatures, inFeatures], { dtype }));
    this.registerParameter('bias', opts.bias === false ? null : zeros([outFeatures], { dtype }));
    this.resetParameters(opts.generator);
  }
  resetParameters(generator?: Generator): void {
    kaimingUniform(this.weight, { a: Math.sqrt(5), generator });
    if (this.bias) {
      const bound = this.inFeatures > 0 ? 1 / Math.sqrt(this.inFeatures) : 0;
      uniform(this.bias, -bound, bound, { generator });
    }
  }
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${this.bias ? 'True' : 'False'}`;
  }
}

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/** Passes its input through: a placeholder where a layer is switched off (e.g. a removed head). */
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** nn.Flatten(startDim = 1, endDim = -1): keeps the batch dim. */
export class Flatten extends Module {
  constructor(
    readonly startDim = 1,
    readonly endDim = -1,
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return flatten(x, this.startDim, this.endDim);
  }
  override extraRepr(): string {
    return `start_dim=${this.startDim}, end_dim=${this.endDim}`;
  }
}

/** nn.Dropout(p = 0.5): F.dropout in training mode, the identity in eval mode. */
export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) throw new ValueError(`Dropout: probability has to be between 0 and 1, but got ${p}`);
  }
  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training);
  }
  override extraRepr(): string {
    return `p=${this.p}`;
  }
}

/**
 * nn.Sequential: children named "0", "1", ... (so keys read `features.0.weight` as in torch),
 * or the names of a plain object `new Sequential({ conv: ..., relu: ... })`. forward feeds
 * each child's output to the next.
 */
export class Sequential extends Module {
  constructor(...layers: Module[] | [Record<string, Module>]) {
    super();
    const first = layers[0];
    if (layers.length === 1 && first !== undefined && !(first instanceof Module)) {
      for (const [name, m] of Object.entries(first)) this.registerModule(name, m);
    } else {
      (layers as Module[]).forEach((m, i) => {
        this.registerModule(String(i), m);
      });
    }
  }
  get length(): number {
    return this.children().length;
  }
  /** The i-th child (negative counts from the end). */
  at(i: number): Module {
    const kids = this.children();
    const m = kids[i < 0 ? kids.length + i : i];
    if (!m) throw new ValueError(`Sequential.at: index ${i} is out of range for a Sequential of length ${kids.length}`);
    return m;
  }
  /** Add a layer at the end under the next free number. */
  append(m: Module): this {
    this.registerModule(String(this.length), m);
    return this;
  }
  forward(x: Tensor): Tensor {
    let out: unknown = x;
    for (const m of this.children()) out = (m.forward as (i: unknown) => unknown)(out);
    return out as Tensor;
  }
  [Symbol.iterator](): Iterator<Module> {
    return this.children()[Symbol.iterator]();
  }
}
