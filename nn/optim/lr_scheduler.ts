// Learning-rate schedulers, as torch.optim.lr_scheduler 1.13. A scheduler owns the `lr` of
// each of its optimizer's parameter groups: call `optimizer.step()` then `scheduler.step()`
// once per epoch (or iteration). Like torch, each step uses the *chainable* form, which
// derives the new lr from the current one (so two schedulers can act on the same groups), and
// `step(epoch)` jumps with the closed form. Construction performs step 0.
//
// Linear warm-up, then cosine decay (the usual recipe):
//   const warm = new LinearLR(opt, { startFactor: 0.1, totalIters: 5 });
//   const cos = new CosineAnnealingLR(opt, { tMax: 95 });
//   const sched = new SequentialLR(opt, [warm, cos], [5]);   // sched.step() each epoch
import { ValueError } from '../../core/errors.js';
import type { Optimizer } from './optimizer.js';

type AnyOptimizer = Optimizer<{ lr: number }, unknown>;

/** Anything with step() and getLastLr(): every scheduler, SequentialLR and ChainedScheduler. */
export interface Scheduler {
  readonly optimizer: AnyOptimizer;
  step(): void;
  getLastLr(): number[];
}

export abstract class LRScheduler implements Scheduler {
  readonly optimizer: AnyOptimizer;
  readonly baseLrs: number[];
  /** The index of the last step taken (-1 before construction's step 0). */
  lastEpoch: number;
  protected stepCount = 0;
  private lastLr: number[] = [];

  /** Subclasses set their fields and then call `this.initialStep()` last in their constructor. */
  constructor(optimizer: AnyOptimizer, lastEpoch = -1) {
    this.optimizer = optimizer;
    optimizer.paramGroups.forEach((g, i) => {
      if (lastEpoch === -1) g.initialLr ??= g.lr;
      else if (g.initialLr === undefined) {
        throw new ValueError(`param 'initialLr' is not specified in paramGroups[${i}] when resuming an optimizer`);
      }
    });
    this.baseLrs = optimizer.paramGroups.map((g) => g.initialLr as number);
    this.lastEpoch = lastEpoch;
  }

  /** (Re)start at step 0: what construction does last (and SequentialLR on its first scheduler). */
  initialStep(): void {
    this.stepCount = 0;
    this.step();
  }

  /** The chainable rule: each group's next lr from its current one. */
  protected abstract getLr(): number[];
  /** The lr at `lastEpoch` straight from the base lrs (used by step(epoch)). */
  protected closedFormLr(): number[] {
    return this.getLr();
  }

  /** Advance one epoch; with `epoch`, jump there using the closed form (torch's deprecated form). */
  step(epoch?: number): void {
    this.stepCount += 1;
    let values: number[];
    if (epoch === undefined) {
      this.lastEpoch += 1;
      values = this.getLr();
    } else {
      this.lastEpoch = epoch;
      values = this.closedFormLr();
    }
    this.optimizer.paramGroups.forEach((g, i) => {
      g.lr = values[i];
    });
    this.lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }

  getLastLr(): number[] {
    return [...this.lastLr];
  }

  protected currentLrs(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }
}

/** lr·γ every `stepSize` epochs. */
export class StepLR extends LRScheduler {
  readonly stepSize: number;
  readonly gamma: number;
  constructor(optimizer: AnyOptimizer, opts: { stepSize: number; gamma?: number; lastEpoch?: number }) {
    super(optimizer, opts.lastEpoch);
    this.stepSize = opts.stepSize;
    this.gamma = opts.gamma ?? 0.1;
    if (!(Number.isInteger(this.stepSize) && this.stepSize > 0)) throw new ValueError(`StepLR: 'stepSize' must be a positive integer, but got ${this.stepSize}`);
    this.initialStep();
  }
  protected getLr(): number[] {
    if (this.lastEpoch === 0 || this.lastEpoch % this.stepSize !== 0) return this.currentLrs();
    return this.currentLrs().map((lr) => lr * this.gamma);
  }
  protected override closedFormLr(): number[] {
    return this.baseLrs.map((b) => b * this.gamma ** Math.floor(this.lastEpoch / this.stepSize));
  }
}

/** lr·γ at each milestone epoch (a milestone listed twice multiplies by γ²). */
export class MultiStepLR extends LRScheduler {
  readonly milestones: number[];
  readonly gamma: number;
  constructor(optimizer: AnyOptimizer, opts: { milestones: readonly number[]; gamma?: number; lastEpoch?: number }) {
    super(optimizer, opts.lastEpoch);
    this.milestones = [...opts.milestones].sort((a, b) => a - b);
    this.gamma = opts.gamma ?? 0.1;
    this.initialStep();
  }
  protected getLr(): number[] {
    const hits = this.milestones.filter((m) => m === this.lastEpoch).length;
    if (hits === 0) return this.currentLrs();
    return this.currentLrs().map((lr) => lr * this.gamma ** hits);
  }
  protected override closedFormLr(): number[] {
    const passed = this.milestones.filter((m) => m <= this.lastEpoch).length;
    return this.baseLrs.map((b) => b * this.gamma ** passed);
  }
}

/**
 * Cosine annealing (Loshchilov & Hutter, SGDR without restarts):
 *   lr_t = η_min + (base - η_min)·(1 + cos(π t / T_max)) / 2
 * stepped in torch's recursive form lr_t = η_min + (lr_{t-1} - η_min)·(1+cos(πt/T))/(1+cos(π(t-1)/T)),
 * which past T_max climbs back up (a period of 2·T_max).
 */
export class CosineAnnealingLR extends LRScheduler {
  readonly tMax: number;
  readonly etaMin: number;
  constructor(optimizer: AnyOptimizer, opts: { tMax: number; etaMin?: number; lastEpoch?: number }) {
    super(optimizer, opts.lastEpoch);
    this.tMax = opts.tMax;
    this.etaMin = opts.etaMin ?? 0;
    if (!(this.tMax > 0)) throw new ValueError(`CosineAnnealingLR: 'tMax' must be positive, but got ${this.tMax}`);
    this.initialStep();
  }
  protected getLr(): number[] {
    const { lastEpoch: t, tMax: T, etaMin } = this;
    const lrs = this.currentLrs();
    if (t === 0) return lrs;
    if (this.stepCount === 1 && t > 0) {
      return this.baseLrs.map((b) => etaMin + ((b - etaMin) * (1 + Math.cos((t * Math.PI) / T))) / 2);
    }
    if ((t - 1 - T) % (2 * T) === 0) {
      return lrs.map((lr, i) => lr + (this.baseLrs[i] - etaMin) * (1 - Math.cos(Math.PI / T)) / 2);
    }
    return lrs.map((lr) => ((1 + Math.cos((Math.PI * t) / T)) / (1 + Math.cos((Math.PI * (t - 1)) / T))) * (lr - etaMin) + etaMin);
  }
  protected override closedFormLr(): number[] {
    const t = this.lastEpoch;
    return this.baseLrs.map((b) => this.etaMin + ((b - this.etaMin) * (1 + Math.cos((Math.PI * t) / this.tMax))) / 2);
  }
}

/**
 * Linear warm-up: the factor goes from startFactor to endFactor over totalIters steps,
 * lr_t = base·(s + (e - s)·min(t, T)/T), stepped in torch's chainable (ratio) form.
 */
export class LinearLR extends LRScheduler {
  readonly startFactor: number;
  readonly endFactor: number;
  readonly totalIters: number;
  constructor(optimizer: AnyOptimizer, opts: { startFactor?: number; endFactor?: number; totalIters?: number; lastEpoch?: number } = {}) {
    super(optimizer, opts.lastEpoch);
    this.startFactor = opts.startFactor ?? 1 / 3;
    this.endFactor = opts.endFactor ?? 1;
    this.totalIters = opts.totalIters ?? 5;
    if (this.startFactor > 1 || !(this.startFactor > 0)) throw new ValueError('Starting multiplicative factor expected to be greater than 0 and less or equal to 1.');
    if (this.endFactor > 1 || !(this.endFactor >= 0)) throw new ValueError('Ending multiplicative factor expected to be between 0 and 1.');
    this.initialStep();
  }
  protected getLr(): number[] {
    const { startFactor: s, endFactor: e, totalIters: T, lastEpoch: t } = this;
    if (t === 0) return this.currentLrs().map((lr) => lr * s);
    if (t > T) return this.currentLrs();
    return this.currentLrs().map((lr) => lr * (1 + (e - s) / (T * s + (t - 1) * (e - s))));
  }
  protected override closedFormLr(): number[] {
    const { startFactor: s, endFactor: e, totalIters: T, lastEpoch: t } = this;
    return this.baseLrs.map((b) => b * (s + ((e - s) * Math.min(T, t)) / T));
  }
}

/**
 * Run schedulers one after another: schedulers[i] from milestones[i-1] on (each restarts from its
 * own epoch 0, via the closed form). Construction resets the groups to their initial lr, undoes the
 * construction steps of the given schedulers and performs step 0 of the first one, as torch.
 */
export class SequentialLR implements Scheduler {
  readonly optimizer: AnyOptimizer;
  lastEpoch: number;
  private lastLr: number[];
  constructor(
    optimizer: AnyOptimizer,
    readonly schedulers: readonly LRScheduler[],
    readonly milestones: readonly number[],
    lastEpoch = -1,
  ) {
    schedulers.forEach((s, i) => {
      if (s.optimizer !== optimizer) {
        throw new ValueError(`Sequential Schedulers expects all schedulers to belong to the same optimizer, but got schedulers at index ${i} to be different than the optimizer passed in.`);
      }
    });
    if (milestones.length !== schedulers.length - 1) {
      throw new ValueError(
        `Sequential Schedulers expects number of schedulers provided to be one more than the number of milestone points, but got number of schedulers ${schedulers.length} and the number of milestones to be equal to ${milestones.length}`,
      );
    }
    this.optimizer = optimizer;
    this.lastEpoch = lastEpoch + 1;
    for (const g of optimizer.paramGroups) g.lr = g.initialLr as number;
    for (const s of schedulers) s.lastEpoch -= 1;
    const first = schedulers[0] as LRScheduler;
    first.initialStep();
    this.lastLr = first.getLastLr();
  }
  step(): void {
    this.lastEpoch += 1;
    const idx = this.milestones.filter((m) => m <= this.lastEpoch).length; // bisect_right
    const s = this.schedulers[idx] as LRScheduler;
    if (idx > 0 && this.milestones[idx - 1] === this.lastEpoch) s.step(0);
    else s.step();
    this.lastLr = s.getLastLr();
  }
  getLastLr(): number[] {
    return [...this.lastLr];
  }
}

/** Step several schedulers together each epoch; their chainable rules compose (e.g. warm-up × step decay). */
export class ChainedScheduler implements Scheduler {
  readonly optimizer: AnyOptimizer;
  private lastLr: number[];
  constructor(readonly schedulers: readonly Scheduler[]) {
    const first = schedulers[0];
    if (!first) throw new ValueError('ChainedScheduler expects at least one scheduler');
    schedulers.forEach((s, i) => {
      if (s.optimizer !== first.optimizer) {
        throw new ValueError(`ChainedScheduler expects all schedulers to belong to the same optimizer, but got schedulers at index 0 and ${i} to be different`);
      }
    });
    this.optimizer = first.optimizer;
    this.lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }
  step(): void {
    for (const s of this.schedulers) s.step();
    this.lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }
  getLastLr(): number[] {
    return [...this.lastLr];
  }
}
