// The optimizer and the learning-rate schedule of a run. Schedules step after every batch, so the
// epochs on the command line (milestones, step size, warm-up) become batch counts here: with a
// handful of epochs a per-epoch cosine would only take a few big steps down.
import type { Tensor } from '../core/tensor.js';
import { Adam, AdamW } from '../nn/optim/adam.js';
import {
  CosineAnnealingLR,
  LinearLR,
  type LRScheduler,
  MultiStepLR,
  type Scheduler,
  SequentialLR,
  StepLR,
} from '../nn/optim/lr_scheduler.js';
import type { Optimizer } from '../nn/optim/optimizer.js';
import { SGD } from '../nn/optim/sgd.js';
import type { TrainOptions } from './options.js';

/** Warm-up starts at lr/10 and climbs linearly to lr. */
export const WARMUP_START_FACTOR = 0.1;

export function buildOptimizer(params: Tensor[], o: TrainOptions): Optimizer {
  switch (o.optimizer) {
    case 'sgd':
      return new SGD(params, { lr: o.lr, momentum: o.momentum, weightDecay: o.wd }) as unknown as Optimizer;
    case 'adam':
      return new Adam(params, { lr: o.lr, weightDecay: o.wd }) as unknown as Optimizer;
    case 'adamw':
      return new AdamW(params, { lr: o.lr, weightDecay: o.wd }) as unknown as Optimizer;
  }
}

/** The schedule over `stepsPerEpoch * epochs` batches, or null for a constant lr without warm-up. */
export function buildScheduler(optimizer: Optimizer, o: TrainOptions, stepsPerEpoch: number): Scheduler | null {
  const total = o.epochs * stepsPerEpoch;
  const warm = Math.min(Math.round(o.warmup * stepsPerEpoch), total - 1);
  let main: LRScheduler | null = null;
  // After a warm-up, SequentialLR restarts the main schedule at its step 0: count from there.
  switch (o.schedule) {
    case 'constant':
      break;
    case 'cosine':
      main = new CosineAnnealingLR(optimizer, { tMax: total - warm });
      break;
    case 'step':
      main = new StepLR(optimizer, { stepSize: (o.stepSize as number) * stepsPerEpoch, gamma: o.gamma });
      break;
    case 'multistep':
      main = new MultiStepLR(optimizer, { milestones: o.milestones.map((m) => m * stepsPerEpoch - warm), gamma: o.gamma });
      break;
  }
  if (warm <= 0) return main;
  const warmup = new LinearLR(optimizer, { startFactor: WARMUP_START_FACTOR, totalIters: warm });
  if (main === null) return warmup;
  return new SequentialLR(optimizer, [warmup, main], [warm]);
}
