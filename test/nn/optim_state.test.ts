// Optimizer and scheduler state dicts against PyTorch 1.13 (fixture from
// test/oracle/gen_optim_state.py): the same layout (keys, nesting, None as null, step as a 0-d
// float32 tensor), the same values after a few steps, and torch's state loaded mid-way carrying
// on as torch did. Also: our own state dicts round-trip bit for bit (what resume needs), and bad
// state dicts are refused without changing anything.
import { describe, expect, it } from 'vitest';
import { DTypeError, ShapeError, type Tensor, ValueError, optim, tensor, zeros } from '../../index.js';
import { fusedSteps } from '../../core/cpu/wasm.js';
import { expectClose } from '../helpers/assert.js';
import { type EncodedTensor, type OracleCase, dec, loadFixture } from '../helpers/oracle.js';

type Json = unknown;
interface Snapshot {
  params: EncodedTensor[];
  state_dict: Json;
}
interface OptimizerCase extends OracleCase {
  optimizer: 'SGD' | 'Adam' | 'AdamW';
  opts: Record<string, unknown>;
  groups: { params: number[]; opts: Record<string, unknown> }[] | null;
  init: EncodedTensor[];
  grads: EncodedTensor[][];
  steps: number;
  middle: Snapshot;
  end: Snapshot;
}
interface Spec {
  kind: string;
  schedulers?: Spec[];
  milestones?: number[];
  [k: string]: unknown;
}
interface SchedulerCase extends OracleCase {
  spec: Spec;
  lrs: number[];
  dicts: { scheduler: Json; param_groups: Json }[];
}

const fixture = loadFixture('optim_state');
const optimizerCases = fixture.filter((c) => c.kind === 'optimizer') as OptimizerCase[];
const schedulerCases = fixture.filter((c) => c.kind === 'scheduler') as SchedulerCase[];

const isEncoded = (v: Json): v is EncodedTensor => v !== null && typeof v === 'object' && 'shape' in v && 'data' in v && 'dtype' in v;

/** Turn the fixture's encoded tensors back into Tensors (as torch's state dict holds them). */
function decodeDeep(v: Json): Json {
  if (isEncoded(v)) return dec(v);
  if (Array.isArray(v)) return v.map(decodeDeep);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decodeDeep(x)]));
  return v;
}

/**
 * ours equals torch's: same keys at every level (order aside: torch puts a group's own options
 * first), tensors of the same shape and dtype within float32 tolerance (the same float32
 * arithmetic, in a different order), numbers to 1e-12 relative (chained lr products), the rest exact.
 */
function expectSameDict(ours: Json, theirs: Json, path: string): void {
  if (isEncoded(theirs)) {
    const t = ours as Tensor;
    expect(typeof t?.toArray, `${path} is a Tensor`).toBe('function');
    expect([...t.shape], `${path} shape`).toEqual(theirs.shape);
    expect(t.dtype, `${path} dtype`).toBe(theirs.dtype);
    expectClose(t.toArray(), theirs.data, { atol: 1e-6, rtol: 1e-5, label: path });
  } else if (Array.isArray(theirs)) {
    expect(Array.isArray(ours), `${path} is an array`).toBe(true);
    expect((ours as Json[]).length, `${path} length`).toBe(theirs.length);
    theirs.forEach((x, i) => {
      expectSameDict((ours as Json[])[i], x, `${path}[${i}]`);
    });
  } else if (theirs !== null && typeof theirs === 'object') {
    expect(Object.keys(ours as object).sort(), `${path} keys`).toEqual(Object.keys(theirs).sort());
    for (const [k, x] of Object.entries(theirs)) expectSameDict((ours as Record<string, Json>)[k], x, `${path}.${k}`);
  } else if (typeof theirs === 'number') {
    expect(typeof ours, `${path} is a number`).toBe('number');
    expectClose([ours as number], [theirs], { atol: 1e-15, rtol: 1e-12, label: path });
  } else expect(ours, path).toEqual(theirs);
}

function makeOptimizer(c: OptimizerCase, params: Tensor[], fused: boolean): optim.Optimizer {
  const spec = c.groups ? c.groups.map((g) => ({ ...g.opts, params: g.params.map((i) => params[i] as Tensor) })) : params;
  // biome-ignore lint/suspicious/noExplicitAny: options come from the fixture
  const Ctor = optim[c.optimizer] as any;
  return new Ctor(spec, { ...c.opts, fused }) as optim.Optimizer;
}

/** Steps [from, to) of the case: the first parameters get the fixture's gradients, the last none. */
function steps(c: OptimizerCase, opt: optim.Optimizer, params: Tensor[], from: number, to: number): void {
  for (let s = from; s < to; s++) {
    (c.grads[s] as EncodedTensor[]).forEach((g, i) => {
      (params[i] as Tensor).grad = dec(g);
    });
    opt.step();
  }
}

describe('optimizer.stateDict() equals torch 1.13 (float32 parameters)', () => {
  for (const c of optimizerCases) {
    for (const fused of [true, false]) {
      it(`${c.name}, ${fused ? 'fused WASM' : 'op by op'}`, () => {
        const params = c.init.map((e) => dec(e, { requiresGrad: true }));
        const opt = makeOptimizer(c, params, fused);
        const before = fusedSteps.sgd + fusedSteps.adam;
        steps(c, opt, params, 0, c.steps);
        expect(fusedSteps.sgd + fusedSteps.adam - before, 'updates on the fused path').toBe(fused ? 2 * c.steps : 0);
        expectSameDict(opt.stateDict(), c.middle.state_dict, 'state_dict');
        for (const [i, p] of params.entries()) expectClose(p, dec(c.middle.params[i]), { atol: 1e-6, rtol: 1e-5, label: `param ${i}` });

        // torch's mid-way state, loaded into a fresh optimizer (other lrs), carries on as torch did
        const resumed = c.middle.params.map((e) => dec(e, { requiresGrad: true }));
        const opt2 = makeOptimizer(c, resumed, fused);
        for (const g of opt2.paramGroups) g.lr = 123;
        opt2.loadStateDict(decodeDeep(c.middle.state_dict) as optim.OptimizerStateDict);
        expectSameDict(opt2.stateDict(), c.middle.state_dict, 'loaded state_dict');
        steps(c, opt2, resumed, c.steps, c.grads.length);
        expectSameDict(opt2.stateDict(), c.end.state_dict, 'end state_dict');
        for (const [i, p] of resumed.entries()) expectClose(p, dec(c.end.params[i]), { atol: 1e-6, rtol: 1e-5, label: `end param ${i}` });
      });
    }
  }
});

describe('optimizer state round-trips bit for bit', () => {
  const makers: [string, (ps: Tensor[], fused: boolean) => optim.Optimizer][] = [
    ['SGD momentum', (ps, fused) => new optim.SGD(ps, { lr: 0.1, momentum: 0.9, weightDecay: 1e-3, fused })],
    ['Adam amsgrad', (ps, fused) => new optim.Adam(ps, { lr: 0.01, amsgrad: true, fused })],
    ['AdamW', (ps, fused) => new optim.AdamW(ps, { lr: 0.01, fused })],
  ];
  const grad = (s: number, n: number) => tensor(Float32Array.from({ length: n }, (_, i) => Math.sin(3 * s + i)), { shape: [n] });
  for (const [name, make] of makers) {
    for (const fused of [true, false]) {
      it(`${name}, ${fused ? 'fused' : 'op by op'}: 3 steps, save, 2 more vs load into a copy, 2 more`, () => {
        const a = [tensor(new Float32Array([1, -2, 3]), { requiresGrad: true }), tensor(new Float32Array([0.5, 0.25]), { requiresGrad: true })];
        const optA = make(a, fused);
        const stepAll = (opt: optim.Optimizer, ps: Tensor[], s: number) => {
          ps.forEach((p, i) => {
            p.grad = grad(s + 10 * i, p.numel());
          });
          opt.step();
        };
        for (let s = 0; s < 3; s++) stepAll(optA, a, s);
        const sd = optA.stateDict();
        const b = a.map((p) => tensor(p.toArray(), { shape: p.shape, requiresGrad: true }));
        const optB = make(b, fused);
        optB.loadStateDict(sd);
        // the copy owns its state: stepping the original must not move it
        for (let s = 3; s < 5; s++) stepAll(optA, a, s);
        for (let s = 3; s < 5; s++) stepAll(optB, b, s);
        for (const [i, p] of a.entries()) expect(Array.from((b[i] as Tensor).toArray()), `param ${i}`).toEqual(Array.from(p.toArray()));
      });
    }
  }
});

describe('optimizer.loadStateDict: checks, casts, refuses without changing anything', () => {
  const setup = () => {
    const ps = [zeros([2, 3], { requiresGrad: true }), zeros([4], { requiresGrad: true })];
    const opt = new optim.Adam([{ params: [ps[0] as Tensor] }, { params: [ps[1] as Tensor], lr: 0.5 }], { lr: 0.1 });
    for (const p of ps) p.grad = zeros(p.shape).add(1);
    opt.step();
    return { ps, opt };
  };

  it('torch layout: step is a 0-d float32 tensor, params numbered across groups', () => {
    const { opt } = setup();
    const sd = opt.stateDict();
    expect(Object.keys(sd.state)).toEqual(['0', '1']);
    const step = sd.state[1]?.step as Tensor;
    expect([step.shape, step.dtype, step.item()]).toEqual([[], 'float32', 1]);
    expect(sd.param_groups.map((g) => g.params)).toEqual([[0], [1]]);
    expect(sd.param_groups[1]).toMatchObject({ lr: 0.5, betas: [0.9, 0.999], weight_decay: 0, fused: false });
  });

  it('state tensors are cast to the parameter dtype and copied', () => {
    const { opt } = setup();
    const sd = opt.stateDict();
    const p64 = [zeros([2, 3], { dtype: 'float64', requiresGrad: true }), zeros([4], { dtype: 'float64', requiresGrad: true })];
    const opt64 = new optim.Adam([{ params: [p64[0] as Tensor] }, { params: [p64[1] as Tensor] }]);
    opt64.loadStateDict(sd);
    const loaded = opt64.stateDict().state[0]?.exp_avg as Tensor;
    expect(loaded.dtype).toBe('float64');
    expect(loaded).not.toBe(sd.state[0]?.exp_avg);
    expectClose(loaded, (sd.state[0] as Record<string, Tensor>).exp_avg as Tensor, { atol: 0 });
    expect(opt64.paramGroups.map((g) => g.lr)).toEqual([0.1, 0.5]);
  });

  it('says what differs: groups, sizes, shapes, keys, indices, step', () => {
    const { opt } = setup();
    const good = () => opt.stateDict();
    const other = setup();
    const snapshot = () => JSON.stringify([other.opt.paramGroups.map((g) => g.lr), [...other.opt.state.values()].map((s) => (s as { step: number }).step)]);
    const before = snapshot();
    const bad: [string, () => unknown, RegExp, typeof ValueError][] = [
      ['group count', () => ({ ...good(), param_groups: good().param_groups.slice(0, 1) }), /has 1 parameter group\(s\), but this optimizer has 2/, ValueError],
      ['group size', () => {
        const sd = good();
        (sd.param_groups[1] as { params: number[] }).params = [1, 2];
        return sd;
      }, /param_groups\[1\] has 2 parameter\(s\), this optimizer's group 1 has 1/, ValueError],
      ['state shape', () => {
        const sd = good();
        (sd.state[1] as Record<string, unknown>).exp_avg = zeros([5]);
        return sd;
      }, /state\[1\]\.exp_avg has shape \[5\], but its parameter has shape \[4\]/, ShapeError],
      ['int state', () => {
        const sd = good();
        (sd.state[1] as Record<string, unknown>).exp_avg_sq = zeros([4], { dtype: 'int32' });
        return sd;
      }, /state\[1\]\.exp_avg_sq must be a floating point Tensor/, DTypeError],
      ['missing state key', () => {
        const sd = good();
        delete (sd.state[0] as Record<string, unknown>).exp_avg;
        return sd;
      }, /state\[0\]\.exp_avg must be a Tensor, but got nothing \(missing key\)/, ValueError],
      ['unknown index', () => ({ ...good(), state: { ...good().state, 7: {} } }), /entry for parameter 7, which no group lists/, ValueError],
      ['bad step', () => {
        const sd = good();
        (sd.state[0] as Record<string, unknown>).step = 1.5;
        return sd;
      }, /state\[0\]\.step must be a non-negative whole number/, ValueError],
      ['missing option', () => {
        const sd = good();
        delete (sd.param_groups[0] as Record<string, unknown>).eps;
        return sd;
      }, /param_groups\[0\]\.eps must be a number, but got nothing/, ValueError],
      ['bad option', () => {
        const sd = good();
        (sd.param_groups[0] as Record<string, unknown>).betas = [1, 0.9];
        return sd;
      }, /loadStateDict: param_groups\[0\]: Invalid beta parameter at index 0: 1/, ValueError],
      ['not a dict', () => [1, 2], /'param_groups' must be an array/, ValueError],
    ];
    for (const [what, make, message, type] of bad) {
      const load = () => other.opt.loadStateDict(make() as optim.OptimizerStateDict);
      expect(load, what).toThrow(message);
      expect(load, what).toThrow(type);
      expect(snapshot(), `${what} changed nothing`).toBe(before);
    }
  });

  it('SGD without momentum keeps torch\'s None buffers; a later momentum starts the buffer from the gradient', () => {
    const p = tensor(new Float32Array([1, 2]), { requiresGrad: true });
    const opt = new optim.SGD([p], { lr: 0.1 });
    p.grad = tensor(new Float32Array([1, 1]));
    opt.step();
    expect(opt.stateDict().state).toEqual({ 0: { momentum_buffer: null } });
    (opt.paramGroups[0] as { momentum: number }).momentum = 0.9;
    opt.step();
    expectClose(opt.stateDict().state[0]?.momentum_buffer as Tensor, [1, 1], { atol: 0 });
  });
});

function buildScheduler(opt: optim.SGD, spec: Spec): optim.Scheduler {
  const { kind, ...opts } = spec;
  if (kind === 'SequentialLR') {
    return new optim.SequentialLR(opt, (spec.schedulers ?? []).map((s) => buildScheduler(opt, s) as optim.LRScheduler), spec.milestones ?? []);
  }
  if (kind === 'ChainedScheduler') return new optim.ChainedScheduler((spec.schedulers ?? []).map((s) => buildScheduler(opt, s)));
  // biome-ignore lint/suspicious/noExplicitAny: options come from the fixture
  return new (optim as any)[kind](opt, opts) as optim.Scheduler;
}

function sgd(lrs: number[]): optim.SGD {
  return new optim.SGD(
    lrs.map((lr) => ({ params: [zeros([1], { requiresGrad: true })], lr })),
    { lr: lrs[0] as number, momentum: 0.9 },
  );
}

describe('scheduler.stateDict() equals torch 1.13 and resumes', () => {
  for (const c of schedulerCases) {
    it(c.name, () => {
      const opt = sgd(c.lrs);
      const sched = buildScheduler(opt, c.spec);
      const mid = Math.floor(c.dicts.length / 2);
      let saved: { optimizer: Json; scheduler: Json } | null = null;
      c.dicts.forEach((d, i) => {
        if (i > 0) {
          opt.step();
          sched.step();
        }
        expectSameDict(sched.stateDict(), d.scheduler, `step ${i}: scheduler`);
        expectSameDict(opt.stateDict().param_groups, d.param_groups, `step ${i}: param_groups`);
        if (i === mid) saved = JSON.parse(JSON.stringify({ optimizer: opt.stateDict(), scheduler: sched.stateDict() }));
      });

      // ours, through JSON, into a freshly built pair: the same lrs from there on, exactly
      const s = saved as unknown as { optimizer: optim.OptimizerStateDict; scheduler: optim.SchedulerStateDict };
      const opt2 = sgd([0.5, 0.5]);
      const sched2 = buildScheduler(opt2, c.spec);
      opt2.loadStateDict(s.optimizer);
      sched2.loadStateDict(s.scheduler);
      const ref = sgd(c.lrs);
      const refSched = buildScheduler(ref, c.spec);
      for (let i = 1; i <= mid; i++) {
        ref.step();
        refSched.step();
      }
      expect(sched2.getLastLr()).toEqual(refSched.getLastLr());
      for (let i = mid + 1; i < c.dicts.length + 2; i++) {
        for (const [o, sc] of [[opt2, sched2], [ref, refSched]] as const) {
          o.step();
          sc.step();
        }
        expect(opt2.paramGroups.map((g) => g.lr), `step ${i}`).toEqual(ref.paramGroups.map((g) => g.lr));
        expect(sched2.getLastLr()).toEqual(refSched.getLastLr());
      }

      // torch's own mid-way dicts load too and continue as torch did
      const opt3 = sgd([0.5, 0.5]);
      const sched3 = buildScheduler(opt3, c.spec);
      const torchMid = c.dicts[mid] as { scheduler: Json; param_groups: Json };
      opt3.loadStateDict({ state: {}, param_groups: torchMid.param_groups } as optim.OptimizerStateDict);
      sched3.loadStateDict(torchMid.scheduler as optim.SchedulerStateDict);
      for (let i = mid + 1; i < c.dicts.length; i++) {
        opt3.step();
        sched3.step();
        expectSameDict(sched3.stateDict(), c.dicts[i]?.scheduler, `resumed step ${i}: scheduler`);
      }
    });
  }

  it('a dict of another scheduler, or of the wrong group count, is refused and changes nothing', () => {
    const opt = sgd([0.1, 0.02]);
    const step = new optim.StepLR(opt, { stepSize: 2 });
    const cos = new optim.CosineAnnealingLR(sgd([0.1, 0.02]), { tMax: 3 });
    expect(() => step.loadStateDict(cos.stateDict())).toThrow(/StepLR\.loadStateDict: 'step_size' must be a positive integer, but got nothing \(missing key\)/);
    const one = new optim.StepLR(sgd([0.1]), { stepSize: 2 }).stateDict();
    expect(() => step.loadStateDict(one)).toThrow(/'base_lrs' must be an array of 2 number\(s\), one per param group/);
    const warm = new optim.LinearLR(opt, { totalIters: 2 });
    const seq = new optim.SequentialLR(opt, [warm, new optim.StepLR(opt, { stepSize: 2 })], [2]);
    const sd = seq.stateDict() as { _schedulers: Record<string, unknown>[]; _milestones: number[] };
    const before = JSON.stringify(seq.stateDict());
    (sd._schedulers[1] as Record<string, unknown>).step_size = 0;
    sd._milestones = [2];
    (sd._schedulers[0] as Record<string, unknown>).last_epoch = 5; // would apply, if the second were fine
    expect(() => seq.loadStateDict(sd)).toThrow(/SequentialLR\.loadStateDict: _schedulers\[1\]: 'step_size' must be a positive integer, but got 0/);
    expect(JSON.stringify(seq.stateDict())).toBe(before);
    expect(() => seq.loadStateDict({ ...seq.stateDict(), _schedulers: [] })).toThrow(ValueError);
  });
});
