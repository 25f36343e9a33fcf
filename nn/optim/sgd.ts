// SGD with momentum, as torch.optim.SGD (1.13, single-tensor path). With g = ∇f(θ):
//   g ← g + λθ                              (weightDecay λ: L2 penalty folded into the gradient)
//   b ← g on the first step, else μb + (1-τ)g   (momentum μ, dampening τ)
//   d ← g + μb (nesterov) or b
//   θ ← θ - lr·d
// With maximize, g is negated first (gradient ascent).
import { ValueError } from '../../core/errors.js';
import type { Tensor } from '../../core/tensor.js';
import { noGrad } from '../../autograd/graph.js';
import { add, mul, neg } from '../../autograd/ops/elementwise.js';
import { clone } from '../../autograd/ops/views.js';
import { zerosLike } from '../../core/creation.js';
import { fusedSgdStep } from '../../core/cpu/wasm.js';
import { keep } from '../../core/scope.js';
import { type ParamGroup, type Params, Optimizer } from './optimizer.js';

export interface SGDOptions {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  maximize: boolean;
  /**
   * Update dense float32 cpu parameters in one fused WASM pass (torch's `fused`). Default: on
   * where it applies; false forces the op-by-op path (the reference the fused one is tested on).
   */
  fused: boolean;
}

interface SGDState {
  momentumBuffer: Tensor;
}

export class SGD extends Optimizer<SGDOptions, SGDState> {
  constructor(params: Params<SGDOptions>, opts: Partial<SGDOptions> & { lr: number }) {
    super(params, { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, fused: true, ...opts });
  }

  protected override validate(g: SGDOptions): void {
    super.validate(g);
    if (!(g.momentum >= 0)) throw new ValueError(`Invalid momentum value: ${g.momentum}`);
    if (!(g.weightDecay >= 0)) throw new ValueError(`Invalid weight_decay value: ${g.weightDecay}`);
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) throw new ValueError('Nesterov momentum requires a momentum and zero dampening');
  }

  protected updateGroup(group: ParamGroup<SGDOptions>): void {
    const { lr, momentum, dampening, weightDecay, nesterov, maximize } = group;
    noGrad(() => {
      for (const p of group.params) {
        if (!p.grad) continue;
        if (group.fused && this.fusedStep(p, group)) continue;
        let d = maximize ? neg(p.grad) : p.grad;
        if (weightDecay !== 0) d = add(d, mul(p, weightDecay));
        if (momentum !== 0) {
          const st = this.state.get(p);
          let buf: Tensor;
          if (!st) {
            buf = keep(clone(d)); // optimizer state outlives any tidy() scope the step runs in
            this.state.set(p, { momentumBuffer: buf });
          } else {
            buf = st.momentumBuffer.assign(add(mul(st.momentumBuffer, momentum), mul(d, 1 - dampening)));
          }
          d = nesterov ? add(d, mul(buf, momentum)) : buf;
        }
        p.assign(add(p, mul(d, -lr)));
      }
    });
  }

  /** The same update in one WASM pass over p, its grad and its buffer; false where it does not apply. */
  private fusedStep(p: Tensor, group: ParamGroup<SGDOptions>): boolean {
    const st = this.state.get(p);
    // asked for only once p qualifies; a new buffer (dense float32, like p) always takes the step
    const buffer = (): Tensor | null => {
      if (group.momentum === 0) return null;
      if (st) return st.momentumBuffer;
      const made = keep(zerosLike(p));
      this.state.set(p, { momentumBuffer: made });
      return made;
    };
    return fusedSgdStep(p, buffer, st === undefined, group);
  }
}
