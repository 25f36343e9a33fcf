// LR schedulers against PyTorch 1.13: the lr of each of two param groups after construction and
// after every step (fixture from test/oracle/gen_optim.py).
import { describe, expect, it } from 'vitest';
import { ValueError, optim, zeros } from '../../index.js';
import { expectClose } from '../helpers/assert.js';
import { type OracleCase, loadFixture } from '../helpers/oracle.js';

interface Spec {
  kind: string;
  schedulers?: Spec[];
  milestones?: number[];
  [k: string]: unknown;
}
interface ScheduleCase extends OracleCase {
  spec: Spec;
  lrs: number[];
  sequence: number[][];
}

const cases = loadFixture('optim').filter((c) => c.kind === 'schedule') as ScheduleCase[];

function build(opt: optim.SGD, spec: Spec): optim.Scheduler {
  const { kind, ...opts } = spec;
  switch (kind) {
    case 'SequentialLR':
      return new optim.SequentialLR(opt, (spec.schedulers ?? []).map((s) => build(opt, s) as optim.LRScheduler), spec.milestones ?? []);
    case 'ChainedScheduler':
      return new optim.ChainedScheduler((spec.schedulers ?? []).map((s) => build(opt, s)));
    default: {
      // biome-ignore lint/suspicious/noExplicitAny: options come from the fixture
      const Ctor = (optim as any)[kind];
      return new Ctor(opt, opts) as optim.Scheduler;
    }
  }
}

function sgd(lrs: number[]): optim.SGD {
  return new optim.SGD(
    lrs.map((lr) => ({ params: [zeros([1], { requiresGrad: true })], lr })),
    { lr: lrs[0] as number },
  );
}

describe('LR schedulers equal PyTorch 1.13 (two param groups)', () => {
  for (const c of cases) {
    it(c.name, () => {
      const opt = sgd(c.lrs);
      const sched = build(opt, c.spec);
      const seq = [sched.getLastLr()];
      for (let i = 1; i < c.sequence.length; i++) {
        opt.step();
        sched.step();
        seq.push(sched.getLastLr());
        // the scheduler's lr is the one the optimizer uses
        expect(opt.paramGroups.map((g) => g.lr)).toEqual(sched.getLastLr());
      }
      // chained float arithmetic in the same order as torch: equal up to the last bit or two
      expectClose(seq.flat(), c.sequence.flat(), { atol: 1e-15, rtol: 1e-12, label: 'lr sequence' });
    });
  }
});

describe('LR scheduler API', () => {
  it('step(epoch) jumps with the closed form', () => {
    const opt = sgd([0.1]);
    const s = new optim.StepLR(opt, { stepSize: 3, gamma: 0.5 });
    s.step(7);
    expect(s.getLastLr()[0]).toBeCloseTo(0.1 * 0.5 ** 2, 15);
    const c = new optim.CosineAnnealingLR(sgd([1]), { tMax: 4 });
    c.step(2); // halfway: (1 + cos(π/2))/2
    expect(c.getLastLr()[0]).toBeCloseTo(0.5, 15);
  });

  it('checks its arguments', () => {
    const opt = sgd([0.1]);
    expect(() => new optim.LinearLR(opt, { startFactor: 1.5 })).toThrow(ValueError);
    expect(() => new optim.LinearLR(opt, { endFactor: -0.1 })).toThrow(/Ending multiplicative factor/);
    expect(() => new optim.StepLR(opt, { stepSize: 0 })).toThrow(/stepSize/);
    expect(() => new optim.CosineAnnealingLR(opt, { tMax: 0 })).toThrow(/tMax/);
    const a = new optim.StepLR(opt, { stepSize: 2 });
    expect(() => new optim.SequentialLR(opt, [a], [3])).toThrow(/one more than the number of milestone points/);
    expect(() => new optim.SequentialLR(sgd([0.1]), [a], [])).toThrow(/same optimizer/);
    expect(() => new optim.StepLR(sgd([0.1]), { stepSize: 2, lastEpoch: 4 })).toThrow(/initialLr/);
  });
});
