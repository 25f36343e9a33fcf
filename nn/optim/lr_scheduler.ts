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
//
// stateDict() is torch's: the scheduler's own fields under torch's names (step_size, T_max, ...),
// then base_lrs, last_epoch, verbose, _step_count, _get_lr_called_within_step, _last_lr; the
// optimizer is not in it (its lrs travel in the optimizer's state dict). SequentialLR and
// ChainedScheduler nest their schedulers' dicts under `_schedulers`. Plain JSON throughout.
import { ValueError } from '../../core/errors.js';
import type { Optimizer } from './optimizer.js';

type AnyOptimizer = Optimizer<{ lr: number }, unknown>;

/** A scheduler's state in torch's layout (JSON-safe). */
export type SchedulerStateDict = Record<string, unknown>;

/** Anything with step() and getLastLr(): every scheduler, SequentialLR and ChainedScheduler. */
export interface Scheduler {
  readonly optimizer: AnyOptimizer;
  step(): void;
  getLastLr(): number[];
  stateDict(): SchedulerStateDict;
  /** Take a state from stateDict() (or torch's `scheduler.state_dict()`); checked before anything changes. */
  loadStateDict(sd: SchedulerStateDict): void;
}

/** Check `sd` for scheduler `s` and return what applies it: nested schedulers load all or nothing. */
function prepareLoad(s: Scheduler, sd: unknown, where: string): () => void {
  if (s instanceof LRScheduler || s instanceof SequentialLR || s instanceof ChainedScheduler) return s.prepareLoad(sd, where);
  return () => s.loadStateDict(sd as SchedulerStateDict); // a user's own scheduler checks for itself
}

function asRecord(sd: unknown, where: string): Record<string, unknown> {
  if (sd === null || typeof sd !== 'object' || Array.isArray(sd)) throw new ValueError(`${where}: expected a scheduler state dict (an object), but got ${Array.isArray(sd) ? 'an array' : String(sd)}`);
  return sd as Record<string, unknown>;
}

function shown(v: unknown): string {
  return v === undefined ? 'nothing (missing key)' : JSON.stringify(v);
}

/** sd[key] as a number passing `ok` (described by `expected`), or a ValueError naming the key. */
function numberAt(sd: Record<string, unknown>, key: string, where: string, expected = 'a number', ok: (v: number) => boolean = (v) => !Number.isNaN(v)): number {
  const v = sd[key];
  if (typeof v !== 'number' || !ok(v)) throw new ValueError(`${where}: '${key}' must be ${expected}, but got ${shown(v)}`);
  return v;
}

/** sd[key] as an array of `n` numbers (one per param group). */
function lrsAt(sd: Record<string, unknown>, key: string, n: number, where: string): number[] {
  const v = sd[key];
  if (!Array.isArray(v) || v.length !== n || v.some((x) => typeof x !== 'number')) {
    throw new ValueError(`${where}: '${key}' must be an array of ${n} number(s), one per param group, but got ${shown(v)}`);
  }
  return [...v];
}

const isInt = (v: number) => Number.isInteger(v);

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

  /** This scheduler's own fields under torch's names, in torch's order. */
  protected abstract ownState(): SchedulerStateDict;
  /** Check this scheduler's own fields in `sd`; the returned function sets them. */
  protected abstract readOwnState(sd: Record<string, unknown>, where: string): () => void;

  stateDict(): SchedulerStateDict {
    return {
      ...this.ownState(),
      base_lrs: [...this.baseLrs],
      last_epoch: this.lastEpoch,
      verbose: false,
      _step_count: this.stepCount,
      _get_lr_called_within_step: false,
      _last_lr: [...this.lastLr],
    };
  }

  loadStateDict(sd: SchedulerStateDict): void {
    this.prepareLoad(sd, `${this.constructor.name}.loadStateDict`)();
  }

  /** @internal Check `sd` and return what applies it (used by loadStateDict and the nesting schedulers). */
  prepareLoad(raw: unknown, where: string): () => void {
    const sd = asRecord(raw, where);
    const setOwn = this.readOwnState(sd, where);
    const n = this.optimizer.paramGroups.length;
    const baseLrs = lrsAt(sd, 'base_lrs', n, where);
    const lastEpoch = numberAt(sd, 'last_epoch', where, 'an integer >= -1', (v) => isInt(v) && v >= -1);
    const stepCount = numberAt(sd, '_step_count', where, 'an integer >= 0', (v) => isInt(v) && v >= 0);
    const lastLr = lrsAt(sd, '_last_lr', n, where);
    return () => {
      setOwn();
      this.baseLrs.splice(0, this.baseLrs.length, ...baseLrs);
      this.lastEpoch = lastEpoch;
      this.stepCount = stepCount;
      this.lastLr = lastLr;
    };
  }
}

/** Set readonly config fields on load (torch's load_state_dict updates them too). */
function setFields(target: object, values: Record<string, unknown>): void {
  Object.assign(target, values);
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
  protected ownState(): SchedulerStateDict {
    return { step_size: this.stepSize, gamma: this.gamma };
  }
  protected readOwnState(sd: Record<string, unknown>, where: string): () => void {
    const stepSize = numberAt(sd, 'step_size', where, 'a positive integer', (v) => isInt(v) && v > 0);
    const gamma = numberAt(sd, 'gamma', where);
    return () => setFields(this, { stepSize, gamma });
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
  /** milestones as torch's Counter: { epoch: how many times it is listed }. */
  protected ownState(): SchedulerStateDict {
    const counts: Record<string, number> = {};
    for (const m of this.milestones) counts[m] = (counts[m] ?? 0) + 1;
    return { milestones: counts, gamma: this.gamma };
  }
  protected readOwnState(sd: Record<string, unknown>, where: string): () => void {
    const raw = sd.milestones;
    const bad = () => new ValueError(`${where}: 'milestones' must be an object { epoch: count } (torch's Counter) or an array of integers, but got ${shown(raw)}`);
    let milestones: number[];
    if (Array.isArray(raw)) {
      if (!raw.every((m) => typeof m === 'number' && isInt(m))) throw bad();
      milestones = [...raw];
    } else if (raw !== null && typeof raw === 'object') {
      milestones = [];
      for (const [k, c] of Object.entries(raw)) {
        const m = Number(k);
        if (!isInt(m) || typeof c !== 'number' || !isInt(c) || c < 1) throw bad();
        for (let i = 0; i < c; i++) milestones.push(m);
      }
    } else throw bad();
    milestones.sort((a, b) => a - b);
    const gamma = numberAt(sd, 'gamma', where);
    return () => setFields(this, { milestones, gamma });
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
  protected ownState(): SchedulerStateDict {
    return { T_max: this.tMax, eta_min: this.etaMin };
  }
  protected readOwnState(sd: Record<string, unknown>, where: string): () => void {
    const tMax = numberAt(sd, 'T_max', where, 'a positive number', (v) => v > 0);
    const etaMin = numberAt(sd, 'eta_min', where);
    return () => setFields(this, { tMax, etaMin });
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
  protected ownState(): SchedulerStateDict {
    return { start_factor: this.startFactor, end_factor: this.endFactor, total_iters: this.totalIters };
  }
  protected readOwnState(sd: Record<string, unknown>, where: string): () => void {
    const startFactor = numberAt(sd, 'start_factor', where, 'in (0, 1]', (v) => v > 0 && v <= 1);
    const endFactor = numberAt(sd, 'end_factor', where, 'in [0, 1]', (v) => v >= 0 && v <= 1);
    const totalIters = numberAt(sd, 'total_iters', where, 'a non-negative integer', (v) => isInt(v) && v >= 0);
    return () => setFields(this, { startFactor, endFactor, totalIters });
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
  stateDict(): SchedulerStateDict {
    return { _milestones: [...this.milestones], last_epoch: this.lastEpoch, _last_lr: [...this.lastLr], _schedulers: this.schedulers.map((s) => s.stateDict()) };
  }
  loadStateDict(sd: SchedulerStateDict): void {
    this.prepareLoad(sd, 'SequentialLR.loadStateDict')();
  }
  /** @internal */
  prepareLoad(raw: unknown, where: string): () => void {
    const sd = asRecord(raw, where);
    const ms = sd._milestones;
    if (!Array.isArray(ms) || ms.length !== this.milestones.length || ms.some((m) => typeof m !== 'number' || !isInt(m))) {
      throw new ValueError(`${where}: '_milestones' must be an array of ${this.milestones.length} integer(s), but got ${shown(ms)}`);
    }
    const lastEpoch = numberAt(sd, 'last_epoch', where, 'an integer', isInt);
    const lastLr = lrsAt(sd, '_last_lr', this.optimizer.paramGroups.length, where);
    const apply = nestedLoads(this.schedulers, sd._schedulers, where);
    return () => {
      apply();
      (this as { milestones: readonly number[] }).milestones = [...ms];
      this.lastEpoch = lastEpoch;
      this.lastLr = lastLr;
    };
  }
}

/** Check each nested scheduler's dict in `_schedulers`; the returned function loads them all. */
function nestedLoads(schedulers: readonly Scheduler[], raw: unknown, where: string): () => void {
  if (!Array.isArray(raw) || raw.length !== schedulers.length) {
    throw new ValueError(`${where}: '_schedulers' must be an array of ${schedulers.length} scheduler state dict(s), but got ${Array.isArray(raw) ? `${raw.length}` : shown(raw)}`);
  }
  const applies = schedulers.map((s, i) => prepareLoad(s, raw[i], `${where}: _schedulers[${i}]`));
  return () => {
    for (const a of applies) a();
  };
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
  stateDict(): SchedulerStateDict {
    return { _last_lr: [...this.lastLr], _schedulers: this.schedulers.map((s) => s.stateDict()) };
  }
  loadStateDict(sd: SchedulerStateDict): void {
    this.prepareLoad(sd, 'ChainedScheduler.loadStateDict')();
  }
  /** @internal */
  prepareLoad(raw: unknown, where: string): () => void {
    const sd = asRecord(raw, where);
    const lastLr = lrsAt(sd, '_last_lr', this.optimizer.paramGroups.length, where);
    const apply = nestedLoads(this.schedulers, sd._schedulers, where);
    return () => {
      apply();
      this.lastLr = lastLr;
    };
  }
}
