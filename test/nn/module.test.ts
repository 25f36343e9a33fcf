// nn.Module: registration and state-dict keys, strict loading errors, freezing, hooks, gradient
// flow, child replacement and transfer learning, dtype moves that keep tensor identity.
import { describe, expect, it } from 'vitest';
import { ShapeError, type Tensor, ValueError, io, manualSeed, nn, optim, randn, tensor, zeros } from '../../index.js';
import { expectClose } from '../helpers/assert.js';

/** A module with one of everything: parameters, a persistent and a non-persistent buffer, a child. */
class Block extends nn.Module {
  weight!: Tensor;
  bias!: Tensor | null;
  running!: Tensor;
  scratch!: Tensor;
  inner!: nn.Linear;
  constructor() {
    super();
    this.registerParameter('weight', randn([3, 2]));
    this.registerParameter('bias', null);
    this.registerBuffer('running', zeros([3]));
    this.registerBuffer('scratch', zeros([1]), false);
    this.registerBuffer('count', zeros([], { dtype: 'int32' }));
    this.registerModule('inner', new nn.Linear(3, 2));
  }
  forward(x: Tensor): Tensor {
    return this.inner.forward(x.matmul(this.weight.t()));
  }
}

/** features → fc, the shape of a torchvision classifier. */
class Net extends nn.Module {
  features!: nn.Sequential;
  fc!: nn.Module;
  constructor(classes = 3) {
    super();
    this.registerModule('features', new nn.Sequential(new nn.Linear(4, 8), new nn.ReLU(), new nn.Linear(8, 6), new nn.ReLU()));
    this.registerModule('fc', new nn.Linear(6, classes));
  }
  forward(x: Tensor): Tensor {
    return this.fc.forward(this.features.forward(x) as never) as Tensor;
  }
}

describe('registration and state dict', () => {
  it('keys in registration order, parameters then persistent buffers per module', () => {
    const b = new Block();
    expect(Object.keys(b.stateDict())).toEqual(['weight', 'running', 'count', 'inner.weight', 'inner.bias']);
    expect([...b.namedParameters()].map(([n]) => n)).toEqual(['weight', 'inner.weight', 'inner.bias']);
    expect([...b.namedBuffers()].map(([n]) => n)).toEqual(['running', 'scratch', 'count']);
    expect([...b.namedModules()].map(([n]) => n)).toEqual(['', 'inner']);
    expect(b.children()).toEqual([b.inner]);
    expect(b.parameters().every((p) => p.requiresGrad)).toBe(true);
    expect(b.numParameters()).toBe(3 * 2 + 2 * 3 + 2);
  });

  it('Sequential numbers its children "0", "1", ... or takes names from an object', () => {
    const s = new nn.Sequential(new nn.Linear(2, 3), new nn.ReLU(), new nn.Linear(3, 1));
    expect(Object.keys(s.stateDict())).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
    expect(s.length).toBe(3);
    expect(s.at(-1)).toBe(s.at(2));
    expect([...s].length).toBe(3);
    s.append(new nn.Linear(1, 1));
    expect(Object.keys(s.stateDict()).slice(-2)).toEqual(['3.weight', '3.bias']);
    const named = new nn.Sequential({ fc1: new nn.Linear(2, 2), act: new nn.ReLU() });
    expect(Object.keys(named.stateDict())).toEqual(['fc1.weight', 'fc1.bias']);
    expect(() => s.at(9)).toThrow(/out of range/);
  });

  it('a parameter shared by two layers is listed once', () => {
    const a = new nn.Linear(2, 2);
    const s = new nn.Sequential(a, new nn.ReLU(), a);
    expect(s.parameters().length).toBe(2);
    expect(s.modules().length).toBe(3); // the Sequential, a, the ReLU
  });

  it('rejects bad registrations', () => {
    class Bad extends nn.Module {
      constructor(which: string) {
        super();
        if (which === 'nonleaf') this.registerParameter('w', randn([2], { requiresGrad: true }).mul(2));
        if (which === 'dot') this.registerBuffer('a.b', zeros([1]));
        if (which === 'clash') this.registerModule('forward', new nn.ReLU());
      }
      forward(x: Tensor): Tensor {
        return x;
      }
    }
    expect(() => new Bad('nonleaf')).toThrow(/must be a leaf tensor/);
    expect(() => new Bad('dot')).toThrow(/contain no '.'/);
    expect(() => new Bad('clash')).toThrow(/attribute 'forward' already exists/);
  });

  it('toString prints the module tree', () => {
    const s = new nn.Sequential(new nn.Linear(2, 3), new nn.Dropout(0.25));
    expect(String(s)).toBe('Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=True)\n  (1): Dropout(p=0.25)\n)');
  });
});

describe('loadStateDict', () => {
  it('copies values in place (same tensor objects), converting dtype', () => {
    const a = new Block();
    const b = new Block();
    const before = b.parameters();
    const sd64 = Object.fromEntries(Object.entries(a.stateDict()).map(([k, v]) => [k, v.dtype === 'int32' ? v : v.double()]));
    b.loadStateDict(sd64);
    expect(b.parameters().every((p, i) => p === before[i])).toBe(true);
    for (const [k, v] of Object.entries(b.stateDict())) {
      expect(v.dtype, k).toBe(a.stateDict()[k]?.dtype);
      expectClose(v, a.stateDict()[k] as Tensor, { atol: 0, rtol: 0, label: k });
    }
  });

  it('strict: one error names every missing, unexpected and wrong-shaped key', () => {
    const m = new Block();
    const sd = { ...m.stateDict() };
    delete sd.running;
    delete sd['inner.bias'];
    sd.extra = zeros([1]);
    sd['inner.weight'] = zeros([2, 4]);
    sd.weight = zeros([2, 3]);
    let err: Error | null = null;
    try {
      m.loadStateDict(sd);
    } catch (e) {
      err = e as Error;
    }
    expect(err).toBeInstanceOf(ShapeError);
    const msg = err?.message ?? '';
    expect(msg).toMatch(/^Error\(s\) in loading state_dict for Block:/);
    expect(msg).toContain('size mismatch for weight: copying a param with shape [2, 3], the shape in current model is [3, 2]');
    expect(msg).toContain('size mismatch for inner.weight: copying a param with shape [2, 4], the shape in current model is [2, 3]');
    expect(msg).toContain('Missing key(s) in state_dict: "running", "inner.bias"');
    expect(msg).toContain('Unexpected key(s) in state_dict: "extra"');
  });

  it('non-strict: loads what matches and reports the rest; wrong shapes still throw', () => {
    const a = new Block();
    const b = new Block();
    const sd = { weight: a.weight, extra: zeros([1]) };
    const r = b.loadStateDict(sd, { strict: false });
    expect(r.missingKeys).toEqual(['running', 'count', 'inner.weight', 'inner.bias']);
    expect(r.unexpectedKeys).toEqual(['extra']);
    expectClose(b.weight, a.weight, { atol: 0, rtol: 0 });
    expect(() => b.loadStateDict({ weight: zeros([1]) }, { strict: false })).toThrow(/size mismatch for weight/);
  });
});

describe('modes, apply, dtype moves, zeroGrad', () => {
  it('train/eval reach every module; apply visits children first', () => {
    const n = new Net();
    n.eval();
    expect(n.modules().every((m) => !m.training)).toBe(true);
    n.train();
    expect(n.modules().every((m) => m.training)).toBe(true);
    const order: string[] = [];
    n.apply((m) => order.push(m.constructor.name));
    expect(order).toEqual(['Linear', 'ReLU', 'Linear', 'ReLU', 'Sequential', 'Linear', 'Net']);
  });

  it('double()/float() convert in place: an optimizer made before still updates the model', () => {
    manualSeed(0);
    const n = new Net();
    const opt = new optim.SGD(n.parameters(), { lr: 0.1 });
    const before = n.parameters();
    n.double();
    expect(n.parameters().every((p, i) => p === before[i] && p.dtype === 'float64')).toBe(true);
    const w0 = n.parameters()[0]?.toArray() as Float64Array;
    n.forward(randn([2, 4], { dtype: 'float64' })).sum().backward();
    opt.step();
    expect(n.parameters()[0]?.toArray()).not.toEqual(w0);
    const b = new Block().double();
    expect(b.stateDict().count?.dtype).toBe('int32');
    expect(b.float().weight.dtype).toBe('float32');
  });

  it('zeroGrad drops grads, or zeroes them in place', () => {
    const n = new Net();
    n.forward(randn([2, 4])).sum().backward();
    const g = n.fc.parameters()[0]?.grad as Tensor;
    n.zeroGrad(false);
    expect(n.fc.parameters()[0]?.grad).toBe(g);
    expect([...g.toArray()].every((v) => v === 0)).toBe(true);
    n.zeroGrad();
    expect(n.parameters().every((p) => p.grad === null)).toBe(true);
  });
});

describe('hooks and gradient flow', () => {
  it('forward hooks capture every activation in order; handle.remove() stops them', () => {
    const n = new Net();
    const seen: [string, number[]][] = [];
    const handles = [...n.namedModules()]
      .filter(([name]) => name !== '')
      .map(([name, m]) => m.registerForwardHook((_m, _in, out) => void seen.push([name, [...(out as Tensor).shape]])));
    n.forward(randn([5, 4]));
    expect(seen).toEqual([
      ['features.0', [5, 8]],
      ['features.1', [5, 8]],
      ['features.2', [5, 6]],
      ['features.3', [5, 6]],
      ['features', [5, 6]],
      ['fc', [5, 3]],
    ]);
    for (const h of handles) h.remove();
    n.forward(randn([5, 4]));
    expect(seen.length).toBe(6);
  });

  it('a hook may replace the output and a pre-hook the inputs', () => {
    const relu = new nn.ReLU();
    const x = tensor([-1, 2, -3]);
    const h = relu.registerForwardHook((_m, _i, out) => (out as Tensor).mul(10));
    expect([...relu.forward(x).toArray()]).toEqual([0, 20, 0]);
    h.remove();
    const p = relu.registerForwardPreHook((_m, [inp]) => [(inp as Tensor).neg()]);
    expect([...relu.forward(x).toArray()]).toEqual([1, 0, 3]);
    p.remove();
    expect([...relu.forward(x).toArray()]).toEqual([0, 2, 0]);
  });

  it('gradFlow reports each parameter gradient (mean |g|, max |g|, norm) and null when frozen', () => {
    manualSeed(2);
    const n = new Net();
    n.features.at(0).requiresGrad_(false);
    n.forward(randn([4, 4])).pow(2).mean().backward();
    const flow = n.gradFlow();
    expect(flow.map((f) => f.name)).toEqual([...n.namedParameters()].map(([k]) => k));
    for (const f of flow) {
      if (f.name.startsWith('features.0.')) {
        expect(f.grad).toBeNull();
        expect(f.requiresGrad).toBe(false);
        continue;
      }
      const g = [...(f.grad as Tensor).toArray()].map(Math.abs);
      expectClose([f.meanAbs, f.maxAbs, f.norm], [g.reduce((a, b) => a + b) / g.length, Math.max(...g), Math.hypot(...g)], { rtol: 1e-6, label: f.name });
    }
    expect(Object.keys(n.namedGrads())).toEqual(flow.map((f) => f.name));
  });
});

describe('freezing and transfer learning', () => {
  it('requiresGrad_(false) freezes a subtree: no grads there, trainable count drops', () => {
    const n = new Net();
    n.features.freeze();
    expect(n.numParameters(true)).toBe(n.fc.numParameters());
    n.forward(randn([2, 4])).sum().backward();
    expect(n.features.parameters().every((p) => p.grad === null)).toBe(true);
    expect(n.fc.parameters().every((p) => p.grad !== null)).toBe(true);
    n.features.unfreeze();
    expect(n.numParameters(true)).toBe(n.numParameters());
  });

  it('load weights, replace the head, freeze the rest: one step changes only the head', () => {
    manualSeed(11);
    const pretrained = new Net(3);
    const bytes = io.serializeSafetensors(pretrained.stateDict());
    const model = new Net(3);
    model.loadStateDict(io.loadSafetensors(bytes));
    // replace the head by plain assignment, as in torch: model.fc = nn.Linear(6, 5)
    model.fc = new nn.Linear(6, 5);
    expect(model.stateDict()['fc.weight']?.shape).toEqual([5, 6]);
    expect(() => model.loadStateDict(pretrained.stateDict())).toThrow(/size mismatch for fc.weight/);
    model.features.freeze();
    const frozen = model.features.parameters().map((p) => p.clone());
    const head = model.fc.parameters().map((p) => p.clone());
    // all parameters go to the optimizer (as in torch); weight decay and momentum must not move the frozen ones
    const opt = new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-3 });
    const loss = model.forward(randn([8, 4])).pow(2).mean();
    loss.backward();
    opt.step();
    model.features.parameters().forEach((p, i) => {
      expectClose(p, frozen[i] as Tensor, { atol: 0, rtol: 0 });
    });
    model.fc.parameters().forEach((p, i) => {
      expect([...p.toArray()]).not.toEqual([...(head[i] as Tensor).toArray()]);
    });
    // the features still compute what the pretrained ones do
    const x = randn([2, 4]);
    expectClose(model.features.forward(x), pretrained.features.forward(x), { atol: 0, rtol: 0 });
  });

  it('setModule / addModule / getSubmodule', () => {
    const n = new Net();
    n.setModule('fc', new nn.Identity());
    expect(n.forward(randn([2, 4])).shape).toEqual([2, 6]);
    expect(Object.keys(n.stateDict()).some((k) => k.startsWith('fc.'))).toBe(false);
    expect(() => n.setModule('head', new nn.Identity())).toThrow(ValueError);
    n.addModule('head', new nn.Linear(6, 2));
    expect(Object.keys(n.stateDict()).slice(-2)).toEqual(['head.weight', 'head.bias']);
    expect(n.getSubmodule('features.2')).toBe(n.features.at(2));
    expect(() => n.getSubmodule('features.9')).toThrow(/no child module '9'/);
  });
});
