// The run's schedule steps after every batch: epochs on the command line become batch counts.
// The lr before each step, against the closed forms of the schedules.
import { describe, expect, it } from 'vitest';
import { zeros } from '../../index.js';
import { DEFAULTS, type TrainOptions } from '../../train/options.js';
import { WARMUP_START_FACTOR, buildOptimizer, buildScheduler } from '../../train/schedule.js';

/** The lr used by each of the run's steps. */
function lrs(o: Partial<TrainOptions>, stepsPerEpoch: number): number[] {
  const opts = { ...DEFAULTS, ...o };
  const opt = buildOptimizer([zeros([2], { requiresGrad: true })], opts);
  const sched = buildScheduler(opt, opts, stepsPerEpoch);
  const out: number[] = [];
  for (let s = 0; s < opts.epochs * stepsPerEpoch; s++) {
    out.push(opt.paramGroups[0]!.lr);
    sched?.step();
  }
  return out;
}

const close = (a: number[], b: number[]) => {
  expect(a.length).toBe(b.length);
  a.forEach((v, i) => {
    expect(v, `step ${i}`).toBeCloseTo(b[i]!, 12);
  });
};

describe('train schedules, stepped per batch', () => {
  it('cosine over all 2 x 5 steps: lr_t = lr (1 + cos(pi t / 10)) / 2', () => {
    close(lrs({ epochs: 2, lr: 0.1 }, 5), Array.from({ length: 10 }, (_, t) => (0.1 * (1 + Math.cos((Math.PI * t) / 10))) / 2));
  });

  it('constant without warm-up: no scheduler at all', () => {
    close(lrs({ epochs: 2, schedule: 'constant', lr: 0.3 }, 3), Array(6).fill(0.3));
  });

  it('warm-up of 1 epoch (5 steps) from lr/10, then cosine over the 10 steps left', () => {
    const lr = 0.1;
    const warm = Array.from({ length: 5 }, (_, t) => lr * (WARMUP_START_FACTOR + ((1 - WARMUP_START_FACTOR) * t) / 5));
    const cos = Array.from({ length: 10 }, (_, t) => (lr * (1 + Math.cos((Math.PI * t) / 10))) / 2);
    close(lrs({ epochs: 3, warmup: 1, lr }, 5), [...warm, ...cos]);
  });

  it('fractional warm-up: 0.5 epoch of 4 steps is 2 steps', () => {
    const got = lrs({ epochs: 2, warmup: 0.5, schedule: 'constant', lr: 1 }, 4);
    close(got, [WARMUP_START_FACTOR, (1 + WARMUP_START_FACTOR) / 2, 1, 1, 1, 1, 1, 1]);
  });

  it('multistep at epochs 1 and 2 (steps 4 and 8), also after a warm-up of 2 steps', () => {
    const plain = lrs({ epochs: 3, schedule: 'multistep', milestones: [1, 2], gamma: 0.5, lr: 1 }, 4);
    close(plain, [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25]);
    const warmed = lrs({ epochs: 3, schedule: 'multistep', milestones: [1, 2], gamma: 0.5, lr: 1, warmup: 0.5 }, 4);
    close(warmed.slice(2), plain.slice(2));
  });

  it('step: x gamma every step-size epochs', () => {
    close(lrs({ epochs: 4, schedule: 'step', stepSize: 2, gamma: 0.1, lr: 1 }, 2), [1, 1, 1, 1, 0.1, 0.1, 0.1, 0.1]);
  });

  it('the optimizer: SGD with momentum and weight decay, Adam, AdamW with the given lr and wd', () => {
    const p = [zeros([1], { requiresGrad: true })];
    expect(buildOptimizer(p, { ...DEFAULTS, lr: 0.2, momentum: 0.8, wd: 1e-3 }).paramGroups[0]).toMatchObject({ lr: 0.2, momentum: 0.8, weightDecay: 1e-3 });
    expect(buildOptimizer(p, { ...DEFAULTS, optimizer: 'adam', lr: 1e-3, wd: 0 }).constructor.name).toBe('Adam');
    expect(buildOptimizer(p, { ...DEFAULTS, optimizer: 'adamw', lr: 1e-3, wd: 0.01 }).paramGroups[0]).toMatchObject({ lr: 1e-3, weightDecay: 0.01 });
  });
});
