// backward's options may come first, as backward({ retainGraph: true }) (torch's
// backward(retain_graph=True)); bad options are ResgradErrors naming the argument.
import { describe, expect, it } from 'vitest';
import { AutogradError, ValueError, autograd, tensor } from '../../index.js';

const leaf = () => tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });

describe('backward({ retainGraph: true })', () => {
  it('y = Σ 2x: options first keep the graph for a second backward (x.grad = 2 + 2), then it is freed', () => {
    const x = leaf();
    const y = x.mul(2).sum();
    y.backward({ retainGraph: true });
    y.backward();
    expect(Array.from(x.grad!.toArray())).toEqual([4, 4, 4]);
    expect(() => y.backward()).toThrow(AutogradError);
    expect(() => y.backward()).toThrow(/backward through the graph a second time/);
  });

  it('the same through autograd.backward(root, options) and with a gradient before the options', () => {
    const x = leaf();
    const y = x.mul(x);
    autograd.backward(y.sum(), { retainGraph: true });
    y.backward(tensor([1, 0, 2], { dtype: 'float64' }), { retainGraph: true });
    y.backward(tensor([0, 1, 0], { dtype: 'float64' }));
    // d(x²)/dx = 2x, weighted by (1,1,1) + (1,0,2) + (0,1,0) = (2,2,3): 2x·(2,2,3)
    expect(Array.from(x.grad!.toArray())).toEqual([4, 8, 18]);
  });

  it('a non-scalar output with options first still needs a gradient', () => {
    expect(() => leaf().mul(2).backward({ retainGraph: true })).toThrow(/grad can be implicitly created only for scalar outputs; output has shape \[3\]/);
  });

  it('bad options and gradients are ValueErrors naming the argument', () => {
    const y = leaf().sum();
    expect(() => y.backward({ retainGraph: 'yes' } as never)).toThrow(ValueError);
    expect(() => y.backward({ retainGraph: 'yes' } as never)).toThrow(/option 'retainGraph' must be a boolean, but got string/);
    expect(() => y.backward({ createGraph: true } as never)).toThrow(/unknown option 'createGraph' \(higher-order gradients are not supported\)/);
    expect(() => y.backward(3 as never)).toThrow(/argument 'gradOutput' must be a Tensor \(or the options object\), but got number/);
    expect(() => y.backward(undefined, 7 as never)).toThrow(/argument 'options' must be an object like \{ retainGraph: true \}, but got number/);
    y.backward(undefined, {});
  });
});
