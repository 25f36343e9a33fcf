// SGD with momentum, as torch.optim.SGD (1.13, single-tensor path). With g = ∇f(θ):
//   g ← g + λθ                              (weightDecay λ: L2 penalty folded into the gradient)
//   b ← g on the first step, else μb + (1-τ)g   (momentum μ, dampening τ)
//   d ← g + μb (nesterov) or b
//   θ ← θ - lr·d
// With maximize, g is negated first (gradient ascent).
// Its state dict, as torch's: `momentum_buffer` per parameter that has stepped (None/null while
// momentum is 0).
import { ValueError } from '../../core/errors.js';
import type { Tensor } from '../../core/tensor.js';
import { noGrad } from '../../autograd/graph.js';
import { add, mul, neg } from '../../autograd/ops/elementwise.js';
import { clone } from '../../autograd/ops/views.js';
import { zerosLike } from '../../core/creation.js';
import { fusedSgdStep } from '../../core/cpu/wasm.js';
import { pin } from '../../core/scope.js';
import { type GroupEntry, type ParamGroup, type ParamStateDict, type Params, type StateMaker, Optimizer, stateTensor } from './optimizer.js';

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

/** torch 1.13's SGD param_group keys, in its order. */
const SGD_GROUP: readonly GroupEntry[] = [
  { key: 'lr', option: 'lr', kind: 'number' },
  { key: 'momentum', option: 'momentum', kind: 'number' },
  { key: 'dampening', option: 'dampening', kind: 'number' },
  { key: 'weight_decay', option: 'weightDecay', kind: 'number' },
  { key: 'nesterov', option: 'nesterov', kind: 'boolean' },
  { key: 'maximize', option: 'maximize', kind: 'boolean' },
  { key: 'foreach', fixed: null },
  { key: 'differentiable', fixed: false },
];

export class SGD extends Optimizer<SGDOptions, SGDState> {
  /** Parameters that stepped without momentum and have no buffer (torch's momentum_buffer None). */
  private readonly withoutBuffer = new Set<Tensor>();

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
        const st = this.state.get(p);
        if (momentum !== 0) {
          let buf: Tensor;
          if (!st) {
            buf = pin(clone(d)); // optimizer state outlives any tidy() scope the step runs in (core/scope.ts pin)
            this.state.set(p, { momentumBuffer: buf });
          } else {
            buf = st.momentumBuffer.assign(add(mul(st.momentumBuffer, momentum), mul(d, 1 - dampening)));
          }
          d = nesterov ? add(d, mul(buf, momentum)) : buf;
        } else if (!st) this.withoutBuffer.add(p);
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
      const made = pin(zerosLike(p));
      this.state.set(p, { momentumBuffer: made });
      return made;
    };
    const done = fusedSgdStep(p, buffer, st === undefined, group);
    if (done && !this.state.has(p)) this.withoutBuffer.add(p);
    return done;
  }

  protected groupLayout(): readonly GroupEntry[] {
    return SGD_GROUP;
  }

  protected packState(p: Tensor): ParamStateDict | undefined {
    const st = this.state.get(p);
    if (st) return { momentum_buffer: st.momentumBuffer };
    return this.withoutBuffer.has(p) ? { momentum_buffer: null } : undefined;
  }

  protected readState(entry: Record<string, unknown>, p: Tensor, where: string): StateMaker {
    const v = entry.momentum_buffer;
    if (v === null || v === undefined) return () => this.withoutBuffer.add(p);
    const copy = stateTensor(v, p, `${where}.momentum_buffer`);
    return () => {
      this.state.set(p, { momentumBuffer: copy() });
    };
  }

  protected override clearState(): void {
    super.clearState();
    this.withoutBuffer.clear();
  }
}
