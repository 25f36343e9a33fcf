// Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019), as torch.optim 1.13
// (single-tensor path). At step t with g = ∇f(θ):
//   Adam:  g ← g + λθ                (L2 penalty inside the gradient, so it gets rescaled too)
//   AdamW: θ ← θ·(1 - lr·λ)          (decoupled weight decay, applied to θ directly)
//   m ← β1·m + (1-β1)·g              v ← β2·v + (1-β2)·g²
//   v̂ ← max(v̂, v) with amsgrad, else v
//   θ ← θ - (lr / (1-β1^t)) · m / (sqrt(v̂) / sqrt(1-β2^t) + ε)
// The bias corrections 1-β^t undo the zero start of m and v.
// Per-parameter state, under torch's names in the state dict: step (a 0-d float32 tensor, as torch
// 1.13 stores it), exp_avg (m), exp_avg_sq (v) and, with amsgrad, max_exp_avg_sq (v̂).
import { ValueError } from '../../core/errors.js';
import { zerosLike } from '../../core/creation.js';
import { fusedAdamStep } from '../../core/cpu/wasm.js';
import { pin } from '../../core/scope.js';
import { noGrad } from '../../autograd/graph.js';
import { add, div, maximum, mul, neg, sqrt } from '../../autograd/ops/elementwise.js';
import { Tensor } from '../../core/tensor.js';
import { type GroupEntry, type ParamGroup, type ParamStateDict, type Params, type StateMaker, Optimizer, stateTensor, stepCount } from './optimizer.js';

export interface AdamOptions {
  lr: number;
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
  /** One fused WASM pass per dense float32 cpu parameter (torch's `fused`); false: op by op. */
  fused: boolean;
}

interface AdamState {
  step: number;
  expAvg: Tensor;
  expAvgSq: Tensor;
  maxExpAvgSq: Tensor | null;
}

const ADAM_KEYS = { lr: 'lr', betas: 'betas', eps: 'eps', weight_decay: 'weightDecay', amsgrad: 'amsgrad', maximize: 'maximize' } as const;
const option = (key: keyof typeof ADAM_KEYS): GroupEntry => ({
  key,
  option: ADAM_KEYS[key],
  kind: key === 'betas' ? 'pair' : key === 'amsgrad' || key === 'maximize' ? 'boolean' : 'number',
});
/** torch 1.13's param_group keys, in its order: Adam's and AdamW's differ. */
const ADAM_GROUP: readonly GroupEntry[] = [
  ...(['lr', 'betas', 'eps', 'weight_decay', 'amsgrad', 'maximize'] as const).map(option),
  { key: 'foreach', fixed: null },
  { key: 'capturable', fixed: false },
  { key: 'differentiable', fixed: false },
  { key: 'fused', fixed: false },
];
const ADAMW_GROUP: readonly GroupEntry[] = [
  ...(['lr', 'betas', 'eps', 'weight_decay', 'amsgrad'] as const).map(option),
  { key: 'foreach', fixed: null },
  option('maximize'),
  { key: 'capturable', fixed: false },
];

abstract class AdamBase extends Optimizer<AdamOptions, AdamState> {
  /** true: AdamW's decoupled decay; false: Adam's L2 term in the gradient. */
  protected abstract readonly decoupled: boolean;

  protected override validate(g: AdamOptions): void {
    super.validate(g);
    if (!(g.eps >= 0)) throw new ValueError(`Invalid epsilon value: ${g.eps}`);
    g.betas.forEach((b, i) => {
      if (!(b >= 0 && b < 1)) throw new ValueError(`Invalid beta parameter at index ${i}: ${b}`);
    });
    if (!(g.weightDecay >= 0)) throw new ValueError(`Invalid weight_decay value: ${g.weightDecay}`);
  }

  protected updateGroup(group: ParamGroup<AdamOptions>): void {
    const { lr, eps, weightDecay, amsgrad, maximize } = group;
    const [beta1, beta2] = group.betas;
    noGrad(() => {
      for (const p of group.params) {
        if (!p.grad) continue;
        let g = maximize ? neg(p.grad) : p.grad;
        let st = this.state.get(p);
        if (!st) {
          // State is kept: it must outlive any tidy() scope the step runs in.
          st = { step: 0, expAvg: pin(zerosLike(p)), expAvgSq: pin(zerosLike(p)), maxExpAvgSq: amsgrad ? pin(zerosLike(p)) : null };
          this.state.set(p, st);
        }
        st.step += 1;
        const o = { lr, betas: group.betas, eps, weightDecay, amsgrad, maximize, decoupled: this.decoupled };
        if (amsgrad) st.maxExpAvgSq ??= pin(zerosLike(p));
        if (group.fused && fusedAdamStep(p, st.expAvg, st.expAvgSq, st.maxExpAvgSq, st.step, o)) continue;
        if (weightDecay !== 0) {
          if (this.decoupled) p.assign(mul(p, 1 - lr * weightDecay));
          else g = add(g, mul(p, weightDecay));
        }
        st.expAvg.assign(add(mul(st.expAvg, beta1), mul(g, 1 - beta1)));
        st.expAvgSq.assign(add(mul(st.expAvgSq, beta2), mul(mul(g, 1 - beta2), g)));
        const biasCorrection1 = 1 - beta1 ** st.step;
        const biasCorrection2Sqrt = Math.sqrt(1 - beta2 ** st.step);
        const stepSize = lr / biasCorrection1;
        let second = st.expAvgSq;
        if (amsgrad) {
          st.maxExpAvgSq ??= pin(zerosLike(p)); // amsgrad switched on after the first step
          second = st.maxExpAvgSq.assign(maximum(st.maxExpAvgSq, st.expAvgSq));
        }
        const denom = add(div(sqrt(second), biasCorrection2Sqrt), eps);
        // torch's addcdiv: θ + value·m / denom, evaluated as (value·m) / denom
        p.assign(add(p, div(mul(st.expAvg, -stepSize), denom)));
      }
    });
  }

  protected groupLayout(): readonly GroupEntry[] {
    return this.decoupled ? ADAMW_GROUP : ADAM_GROUP;
  }

  protected packState(p: Tensor): ParamStateDict | undefined {
    const st = this.state.get(p);
    if (st === undefined) return undefined;
    const out: ParamStateDict = { step: Tensor.fromArray(new Float32Array([st.step]), []), exp_avg: st.expAvg, exp_avg_sq: st.expAvgSq };
    if (st.maxExpAvgSq) out.max_exp_avg_sq = st.maxExpAvgSq;
    return out;
  }

  protected readState(entry: Record<string, unknown>, p: Tensor, where: string): StateMaker {
    const step = stepCount(entry.step, `${where}.step`);
    const expAvg = stateTensor(entry.exp_avg, p, `${where}.exp_avg`);
    const expAvgSq = stateTensor(entry.exp_avg_sq, p, `${where}.exp_avg_sq`);
    const max = entry.max_exp_avg_sq;
    const maxExpAvgSq = max === undefined || max === null ? null : stateTensor(max, p, `${where}.max_exp_avg_sq`);
    return () => {
      this.state.set(p, { step, expAvg: expAvg(), expAvgSq: expAvgSq(), maxExpAvgSq: maxExpAvgSq ? maxExpAvgSq() : null });
    };
  }
}

export class Adam extends AdamBase {
  protected readonly decoupled = false;
  constructor(params: Params<AdamOptions>, opts: Partial<AdamOptions> = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false, fused: true, ...opts });
  }
}

/** Adam with decoupled weight decay (default weightDecay 0.01, as torch). */
export class AdamW extends AdamBase {
  protected readonly decoupled = true;
  constructor(params: Params<AdamOptions>, opts: Partial<AdamOptions> = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, maximize: false, fused: true, ...opts });
  }
}
