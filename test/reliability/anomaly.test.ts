// Anomaly mode: the first NaN or ±Infinity made by a forward op or returned by a backward
// function stops the program with an AutogradError naming the op and where it was called.
import { afterEach, describe, expect, it } from 'vitest';
import { AutogradError, F, Generator, type Tensor, autograd, models, noGrad, randn, tensor } from '../../index.js';

const { detectAnomaly, isAnomalyEnabled, setDetectAnomaly } = autograd;

afterEach(() => setDetectAnomaly(false));

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('anomaly mode switches', () => {
  it('is off by default; detectAnomaly(fn) turns it on for fn only, also when fn throws', () => {
    expect(isAnomalyEnabled()).toBe(false);
    expect(detectAnomaly(() => isAnomalyEnabled())).toBe(true);
    expect(isAnomalyEnabled()).toBe(false);
    expect(() =>
      detectAnomaly(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(isAnomalyEnabled()).toBe(false);
    setDetectAnomaly(true);
    expect(isAnomalyEnabled()).toBe(true);
    expect(() => setDetectAnomaly('yes' as never)).toThrow(/argument 'on' must be a boolean, but got string/);
  });

  it('off: NaN flows silently and no stack is captured; on: the node keeps the forward stack', () => {
    const x = tensor([-1, 2], { dtype: 'float32', requiresGrad: true });
    const y = x.log();
    expect(Number.isNaN(y.toArray()[0])).toBe(true);
    expect(y.gradFn?.stack).toBeNull();
    const z = detectAnomaly(() => x.mul(2));
    expect(z.gradFn?.stack?.text).toMatch(/anomaly\.test\.ts/);
    expect(z.gradFn?.stack?.text).not.toMatch(/autograd\/graph\.ts|autograd\/ops\//);
  });
});

describe('forward: the first op that makes a NaN or Infinity', () => {
  it('log of a negative number mid-network: names log, the element, and the test line', () => {
    const x = tensor([[1, 2], [3, 4]], { dtype: 'float64', requiresGrad: true });
    const err = thrown(() => detectAnomaly(() => x.sub(2).mul(3).log().sum()));
    expect(err).toBeInstanceOf(AutogradError);
    expect(err.message).toMatch(/^anomaly mode: 'log' produced NaN in its output \[Float64 \[2, 2\]\] at element 0 \(its inputs were finite\)/);
    expect(err.message).toMatch(/'log' was called at:\n\s+at .*anomaly\.test\.ts:\d+/);
  });

  it('1/0 gives Infinity: named as such, under noGrad too', () => {
    const err = thrown(() => detectAnomaly(() => noGrad(() => autograd.div(tensor([1, 1]), tensor([1, 0])))));
    expect(err.message).toMatch(/'div' produced Infinity in its output \[Float32 \[2\]\] at element 1/);
  });

  it('a NaN planted in a weight of layer2 of a CIFAR ResNet-20: conv2d is named, with the input that held it and the model frames', () => {
    const model = models.cifarResNet(20);
    model.eval();
    const layer2 = (model as unknown as { layer2: { modules(): Iterable<unknown> } }).layer2;
    const conv = [...layer2.modules()].find((m) => (m as { weight?: Tensor }).weight?.ndim === 4) as { weight: Tensor };
    const w = conv.weight;
    const values = w.toArray();
    values[7] = Number.NaN;
    noGrad(() => w.assign(tensor(values, { shape: w.shape as number[] })));
    const x = randn([1, 3, 32, 32], { generator: new Generator(1) });
    // without anomaly mode the NaN reaches the logits silently
    expect(noGrad(() => model.forward(x)).toArray().some(Number.isNaN)).toBe(true);
    const err = thrown(() => detectAnomaly(() => model.forward(x)));
    expect(err).toBeInstanceOf(AutogradError);
    expect(err.message).toMatch(/'conv2d' produced NaN in its output \[Float32 \[1, 32, 16, 16\]\] at element \d+ \(input 1 \[Float32 \[32, 16, 3, 3\]\] already held NaN at element 7\)/);
    expect(err.message).toMatch(/models\/cifar\.ts/);
    expect(err.message).toMatch(/anomaly\.test\.ts/);
    expect(err.message).not.toMatch(/autograd\/graph\.ts|kernels\//);
  });
});

describe('backward: the first backward function that returns a NaN or Infinity', () => {
  it('sqrt at 0 (a conv output scaled to zero): forward is finite, the backward of sqrt returns Infinity', () => {
    const gen = new Generator(3);
    const x = randn([1, 2, 5, 5], { dtype: 'float64', generator: gen });
    const w = randn([3, 2, 3, 3], { dtype: 'float64', requiresGrad: true, generator: gen });
    const loss = detectAnomaly(() => F.conv2d(x, w, null, { padding: 1 }).mul(0).sqrt().sum());
    expect(loss.item()).toBe(0);
    // without anomaly mode, backward hands NaN (∞·0 in mul's backward) to the weight silently
    loss.backward(undefined, { retainGraph: true });
    expect(w.grad!.toArray().every(Number.isNaN)).toBe(true);
    w.grad = null;
    const err = thrown(() => detectAnomaly(() => loss.backward()));
    expect(err).toBeInstanceOf(AutogradError);
    expect(err.message).toMatch(/^anomaly mode: the backward of 'sqrt' returned -?Infinity in its gradient for input 0 \[Float64 \[1, 3, 5, 5\]\] at element 0 \(the gradient coming in was finite\)/);
    expect(err.message).toMatch(/the forward op 'sqrt' was called at:\n\s+at .*anomaly\.test\.ts:\d+/);
    expect(w.grad).toBeNull();
    // a forward recorded without anomaly mode: the op is still named, with a hint instead of a stack
    const plain = F.conv2d(x, w, null, { padding: 1 }).mul(0).sqrt().sum();
    expect(thrown(() => detectAnomaly(() => plain.backward())).message).toMatch(/backward of 'sqrt'.*\n\(the forward ran without anomaly mode/);
  });

  it('a backward whose ops make Infinity on the way but return finite values passes (pow at 0)', () => {
    const a = tensor([0, 2], { dtype: 'float64', requiresGrad: true });
    const b = tensor([2, 3], { dtype: 'float64', requiresGrad: true });
    // d(a^b)/db = a^b·ln a: ln 0 = −Infinity inside, masked to 0 by torch's rule
    detectAnomaly(() => a.pow(b).sum().backward());
    expect(Array.from(b.grad!.toArray())).toEqual([0, 8 * Math.log(2)]);
  });
});
