// Checkpoints: a save/load round trip continues bit for bit (model with BN buffers, optimizer,
// scheduler, RNG, extra); a failed write (an injected full disk) leaves the previous checkpoint
// loadable and no temporary folder; a crash between the swap's two renames is survived; bad
// checkpoints get errors that say what is wrong and change nothing. And the generator's state.
import { mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Generator, type Tensor, ValueError, manualSeed, nn, optim, randn, tensor } from '../../index.js';
import { getRngState, setRngState } from '../../core/random.js';
import { CheckpointError, findCheckpoint, loadCheckpoint, saveCheckpoint } from '../../train/checkpoint.js';

describe('Generator state', () => {
  it('setState(getState()) repeats the draws, through JSON and in another generator', () => {
    const g = new Generator(7);
    g.normal(); // leaves a spare normal pending: part of the state
    const s = JSON.parse(JSON.stringify(g.getState()));
    const draws = () => [g.normal(), g.uniform(), g.nextUint32(), g.normal(), g.integer(0, 1000)];
    const first = draws();
    g.setState(s);
    expect(draws()).toEqual(first);
    expect([new Generator(1).setState(s)].map((h) => [h.normal(), h.uniform(), h.nextUint32(), h.normal(), h.integer(0, 1000)])[0]).toEqual(first);
  });

  it('getRngState/setRngState drive the default generator (randn)', () => {
    manualSeed(3);
    randn([3]);
    const s = getRngState();
    const a = randn([5]).toArray();
    setRngState(s);
    expect(randn([5]).toArray()).toEqual(a);
  });

  it('a bad state is refused with the field named, and changes nothing', () => {
    const g = new Generator(5);
    const good = g.getState();
    const bad: [unknown, RegExp][] = [
      [null, /must be an object from getState\(\), but got null/],
      [{ ...good, algorithm: 'mt19937' }, /algorithm must be 'xoshiro128\*\*', but got 'mt19937'/],
      [{ ...good, state: [1, 2, 3] }, /state must be an array of 4 unsigned 32-bit integers, but got \[1,2,3\]/],
      [{ ...good, state: [1, 2, -3, 4] }, /state\[2\] must be an unsigned 32-bit integer, but got -3/],
      [{ ...good, state: [1, 2, 3, 2 ** 32] }, /state\[3\] must be an unsigned 32-bit integer/],
      [{ ...good, state: [0, 0, 0, 0] }, /all zeros/],
      [{ ...good, spareNormal: Number.NaN }, /spareNormal must be null or a finite number, but got NaN/],
    ];
    for (const [s, message] of bad) {
      expect(() => g.setState(s as never)).toThrow(message);
      expect(() => g.setState(s as never)).toThrow(ValueError);
    }
    expect(g.getState()).toEqual(good);
  });
});

/** A tiny model with parameters and BatchNorm buffers (running stats, num_batches_tracked). */
function makeModel(seed: number, hidden = 6): nn.Sequential {
  manualSeed(seed);
  return new nn.Sequential(new nn.Linear(4, hidden), new nn.BatchNorm1d(hidden), new nn.ReLU(), new nn.Linear(hidden, 3));
}

interface Run {
  model: nn.Sequential;
  optimizer: optim.Optimizer;
  scheduler: optim.Scheduler;
}

const makers: [string, (m: nn.Module) => Omit<Run, 'model'>][] = [
  ['SGD momentum + MultiStepLR', (m) => {
    const optimizer = new optim.SGD(m.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-3 });
    return { optimizer, scheduler: new optim.MultiStepLR(optimizer, { milestones: [2, 3], gamma: 0.5 }) };
  }],
  ['AdamW + SequentialLR warm-up', (m) => {
    const optimizer = new optim.AdamW(m.parameters(), { lr: 0.01 });
    const warm = new optim.LinearLR(optimizer, { startFactor: 0.2, totalIters: 2 });
    return { optimizer, scheduler: new optim.SequentialLR(optimizer, [warm, new optim.CosineAnnealingLR(optimizer, { tMax: 4 })], [2]) };
  }],
];

/** One step on a batch drawn from the default generator (so the RNG state matters). */
function trainStep(r: Run): void {
  const x = randn([5, 4]);
  const y = randn([5, 3]);
  r.optimizer.zeroGrad();
  r.model.forward(x).sub(y).pow(2).mean().backward();
  r.optimizer.step();
  r.scheduler.step();
}

function snapshot(m: nn.Module): number[][] {
  return Object.values(m.stateDict()).map((t) => Array.from(t.toArray()));
}

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'resgrad-ckpt-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('saveCheckpoint / loadCheckpoint', () => {
  for (const [name, make] of makers) {
    it(`${name}: 3 steps, save, 3 more == load into a fresh run, 3 more (bit for bit)`, () => {
      const model = makeModel(1);
      const a: Run = { model, ...make(model) };
      for (let i = 0; i < 3; i++) trainStep(a);
      saveCheckpoint(dir, { ...a, extra: { epoch: 2, order: [3, 1, 2], note: 'hi', nested: { ok: true, none: null } } });
      expect(readdirSync(dir)).toEqual(['checkpoint']);
      expect(readdirSync(join(dir, 'checkpoint')).sort()).toEqual(['extra.json', 'model.safetensors', 'optimizer.json', 'optimizer.safetensors', 'rng.json', 'scheduler.json']);
      for (let i = 0; i < 3; i++) trainStep(a);

      const fresh = makeModel(99);
      const b: Run = { model: fresh, ...make(fresh) };
      manualSeed(12345); // the checkpoint's RNG state must win
      const extra = loadCheckpoint(dir, b);
      expect(extra).toEqual({ epoch: 2, order: [3, 1, 2], note: 'hi', nested: { ok: true, none: null } });
      for (let i = 0; i < 3; i++) trainStep(b);
      expect(snapshot(b.model)).toEqual(snapshot(a.model));
      expect(b.scheduler.getLastLr()).toEqual(a.scheduler.getLastLr());
      expect(JSON.stringify(b.scheduler.stateDict())).toBe(JSON.stringify(a.scheduler.stateDict()));
    });
  }

  it('a second save replaces the first and leaves no .old or temporary folder', () => {
    const model = makeModel(1);
    const r: Run = { model, ...makers[0]![1](model) };
    saveCheckpoint(dir, { ...r, extra: { n: 1 } });
    trainStep(r);
    saveCheckpoint(dir, { ...r, extra: { n: 2 } });
    expect(readdirSync(dir)).toEqual(['checkpoint']);
    expect(loadCheckpoint(dir, r)).toEqual({ n: 2 });
  });

  it('a full disk while writing keeps the previous checkpoint, loadable, and no temporary folder', () => {
    const model = makeModel(1);
    const r: Run = { model, ...makers[0]![1](model) };
    trainStep(r);
    saveCheckpoint(dir, { ...r, extra: { n: 1 } });
    const before = snapshot(r.model);
    trainStep(r);
    let files = 0;
    const fullDisk = (path: string, bytes: Uint8Array) => {
      if (++files === 3) {
        writeFileSync(path, bytes.subarray(0, bytes.length >> 1)); // half a file, then the disk is full
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }
      writeFileSync(path, bytes);
    };
    expect(() => saveCheckpoint(dir, { ...r, extra: { n: 2 } }, { writeFile: fullDisk })).toThrow(
      /saveCheckpoint: writing optimizer\.json in .*checkpoint\.tmp-\d+ failed \(ENOSPC: no space left on device, write\); the previous checkpoint in .* is unchanged/,
    );
    expect(readdirSync(dir)).toEqual(['checkpoint']);
    expect(loadCheckpoint(dir, r)).toEqual({ n: 1 });
    expect(snapshot(r.model)).toEqual(before);
  });

  it('a crash between the two renames: only checkpoint.old is there, and it is loaded; the next save cleans up', () => {
    const model = makeModel(1);
    const r: Run = { model, ...makers[0]![1](model) };
    saveCheckpoint(dir, { ...r, extra: { n: 1 } });
    renameSync(join(dir, 'checkpoint'), join(dir, 'checkpoint.old'));
    mkdirSync(join(dir, 'checkpoint.tmp-999999999')); // the dead process's half-written folder
    expect(findCheckpoint(dir)).toBe(join(dir, 'checkpoint.old'));
    expect(loadCheckpoint(dir, r)).toEqual({ n: 1 });
    saveCheckpoint(dir, { ...r, extra: { n: 2 } });
    expect(readdirSync(dir)).toEqual(['checkpoint']);
    expect(loadCheckpoint(join(dir, 'checkpoint'), r)).toEqual({ n: 2 }); // the folder itself works too
  });

  it('extra must be plain JSON; a bad value writes nothing', () => {
    const model = makeModel(1);
    const r: Run = { model, ...makers[0]![1](model) };
    expect(() => saveCheckpoint(dir, { ...r, extra: { loss: Number.NaN } })).toThrow(/extra\.loss is NaN; a checkpoint stores plain JSON/);
    expect(() => saveCheckpoint(dir, { ...r, extra: { order: new Int32Array(2) } })).toThrow(/extra\.order is a Int32Array \(use Array\.from\)/);
    expect(() => saveCheckpoint(dir, { ...r, extra: { t: tensor([1]) } })).toThrow(/extra\.t is a Tensor/);
    expect(() => saveCheckpoint(dir, { ...r, extra: { a: [1, undefined] } })).toThrow(/extra\.a\[1\] is undefined/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('loadCheckpoint errors change nothing', () => {
  const setup = () => {
    const model = makeModel(1);
    const r: Run = { model, ...makers[0]![1](model) };
    trainStep(r);
    saveCheckpoint(dir, { ...r, extra: {} });
    const other = makeModel(2);
    const target: Run = { model: other, ...makers[0]![1](other) };
    return { r, target, before: snapshot(other), rng: getRngState() };
  };
  const expectUnchanged = (t: Run, before: number[][], rng: unknown) => {
    expect(snapshot(t.model)).toEqual(before);
    expect(t.optimizer.stateDict().state).toEqual({});
    expect(getRngState()).toEqual(rng);
  };

  it('no checkpoint, a missing file, bad JSON, a truncated safetensors, a bad RNG state', () => {
    const { target, before } = setup();
    const rng = getRngState();
    expect(() => loadCheckpoint(join(dir, 'nowhere'), target)).toThrow(/no checkpoint in .*nowhere \(looked for .*checkpoint\/ and checkpoint\.old\/\)/);
    const ck = join(dir, 'checkpoint');
    const keep = (f: string) => readFileSync(join(ck, f));
    const cases: [string, (f: string) => void, RegExp][] = [
      ['rng.json', (f) => rmSync(join(ck, f)), /checkpoint is missing rng\.json \(a checkpoint holds model\.safetensors, optimizer\.safetensors, optimizer\.json, rng\.json, extra\.json, scheduler\.json\)/],
      ['optimizer.json', (f) => writeFileSync(join(ck, f), '{"state": {'), /optimizer\.json is not valid JSON/],
      ['scheduler.json', (f) => writeFileSync(join(ck, f), '[1, 2'), /scheduler\.json is not valid JSON/],
      ['model.safetensors', (f) => writeFileSync(join(ck, f), keep(f).subarray(0, 100)), /model\.safetensors cannot be read: /],
      ['rng.json', (f) => writeFileSync(join(ck, f), '{"algorithm": "xoshiro128**", "state": [0, 0, 0, 0], "spareNormal": null}'), /rng\.json is not a generator state: .*all zeros/],
      ['scheduler.json', (f) => writeFileSync(join(ck, f), '{"gamma": 0.5}'), /scheduler\.json does not fit this scheduler: MultiStepLR\.loadStateDict: 'milestones' must be an object \{ epoch: count \}/],
    ];
    for (const [file, damage, message] of cases) {
      const saved = keep(file);
      damage(file);
      expect(() => loadCheckpoint(dir, target), file).toThrow(message);
      expect(() => loadCheckpoint(dir, target), file).toThrow(CheckpointError);
      expectUnchanged(target, before, rng);
      writeFileSync(join(ck, file), saved);
    }
    loadCheckpoint(dir, target); // repaired: loads
  });

  it('a checkpoint of another model names the key or shape', () => {
    setup();
    const wider = makeModel(3, 8);
    const t1: Run = { model: wider, ...makers[0]![1](wider) };
    const b1 = snapshot(wider);
    const rng = getRngState();
    expect(() => loadCheckpoint(dir, t1)).toThrow(/checkpoint of another model \(Sequential\): '0\.weight' has shape \[6, 4\] in the checkpoint, \[8, 4\] in the model/);
    expectUnchanged(t1, b1, rng);
    const deeper = new nn.Sequential(new nn.Linear(4, 6), new nn.BatchNorm1d(6), new nn.ReLU(), new nn.Linear(6, 3), new nn.Linear(3, 3));
    const t2: Run = { model: deeper, ...makers[0]![1](deeper) };
    expect(() => loadCheckpoint(dir, t2)).toThrow(/key '4\.weight' is missing from the checkpoint/);
    const shallower = new nn.Sequential(new nn.Linear(4, 6), new nn.BatchNorm1d(6));
    const t3: Run = { model: shallower, ...makers[0]![1](shallower) };
    expect(() => loadCheckpoint(dir, t3)).toThrow(/the checkpoint has key '3\.weight', which the model does not/);
  });

  it('an optimizer over other parameters is refused', () => {
    const { target, before, rng } = setup();
    const adam: Run = { model: target.model, optimizer: new optim.Adam(target.model.parameters()), scheduler: target.scheduler };
    expect(() => loadCheckpoint(dir, { model: adam.model, optimizer: adam.optimizer })).toThrow(/optimizer state in .* does not fit this optimizer: .*param_groups\[0\]\.betas must be a pair of numbers/);
    const half = new optim.SGD((target.model.parameters() as Tensor[]).slice(0, 2), { lr: 0.1, momentum: 0.9 });
    expect(() => loadCheckpoint(dir, { model: target.model, optimizer: half })).toThrow(/param_groups\[0\] has 6 parameter\(s\), this optimizer's group 0 has 2/);
    expectUnchanged(target, before, rng);
  });
});
