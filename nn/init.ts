// nn.init: fill a tensor in place with values drawn as torch.nn.init does, from our seeded
// generator (element by element, row-major). Writes go through Tensor.assign, outside autograd,
// so a module's parameters keep their tensor objects (and an optimizer's references).
//
// Kaiming/He init (He et al. 2015): keep the variance of activations (fan_in) or of gradients
// (fan_out) constant through a layer followed by the nonlinearity:
//   std = gain / sqrt(fan),  gain = calculateGain(nonlinearity, a)   (relu: sqrt 2)
//   normal: N(0, std²);  uniform: U(-bound, bound) with bound = sqrt(3)·std (same variance).
// Xavier/Glorot: std = gain·sqrt(2 / (fan_in + fan_out)).
import { type TypedArray, allocArray } from '../core/dtype.js';
import { ValueError, fmtShape } from '../core/errors.js';
import { type Generator, defaultGenerator } from '../core/random.js';
import { Tensor } from '../core/tensor.js';
import { noGrad } from '../autograd/graph.js';

export type Nonlinearity = 'linear' | 'conv1d' | 'conv2d' | 'conv3d' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';
export type FanMode = 'fan_in' | 'fan_out';

export interface InitOptions {
  generator?: Generator;
}
export interface KaimingOptions extends InitOptions {
  /** Negative slope of the leaky ReLU that follows (0 for ReLU). */
  a?: number;
  mode?: FanMode;
  nonlinearity?: Nonlinearity;
}

/** The recommended gain for a nonlinearity (torch.nn.init.calculate_gain). */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'conv1d':
    case 'conv2d':
    case 'conv3d':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu':
      return 3 / 4;
    default:
      throw new ValueError(`calculateGain: unsupported nonlinearity ${String(nonlinearity)}`);
  }
}

/** fan_in = size(1)·receptive field, fan_out = size(0)·receptive field (weights of dim >= 2). */
export function calculateFanInAndFanOut(t: Tensor): { fanIn: number; fanOut: number } {
  if (t.ndim < 2) {
    throw new ValueError(`init: fan in and fan out can not be computed for a tensor with fewer than 2 dimensions (got shape ${fmtShape(t.shape)})`);
  }
  let receptive = 1;
  for (const s of t.shape.slice(2)) receptive *= s;
  return { fanIn: t.shape[1] * receptive, fanOut: t.shape[0] * receptive };
}

/** Fill `t` with f(i) for each element in row-major order, in place. */
function fill(t: Tensor, f: () => number, op: string): Tensor {
  if (t.dtype === 'int32' && op !== 'constant') throw new ValueError(`init.${op}: expected a floating point tensor, but got int32`);
  const data: TypedArray = allocArray(t.dtype, t.numel());
  for (let i = 0; i < data.length; i++) data[i] = f();
  // in place and outside autograd, as torch's init (its parameters require grad)
  return noGrad(() => t.assign(Tensor.fromArray(data, t.shape)));
}

/** U(a, b). */
export function uniform(t: Tensor, a = 0, b = 1, opts: InitOptions = {}): Tensor {
  const g = opts.generator ?? defaultGenerator;
  return fill(t, () => a + (b - a) * g.uniform(), 'uniform');
}

/** N(mean, std²). */
export function normal(t: Tensor, mean = 0, std = 1, opts: InitOptions = {}): Tensor {
  const g = opts.generator ?? defaultGenerator;
  return fill(t, () => mean + std * g.normal(), 'normal');
}

export function constant(t: Tensor, value: number): Tensor {
  return fill(t, () => value, 'constant');
}
export const zeros = (t: Tensor): Tensor => constant(t, 0);
export const ones = (t: Tensor): Tensor => constant(t, 1);

function kaimingStd(t: Tensor, opts: KaimingOptions, op: string): number {
  const mode = opts.mode ?? 'fan_in';
  if (mode !== 'fan_in' && mode !== 'fan_out') throw new ValueError(`${op}: mode ${String(mode)} not supported, please use one of fan_in, fan_out`);
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  const fan = mode === 'fan_in' ? fanIn : fanOut;
  if (fan === 0) return 0; // a zero-element tensor: nothing to fill (torch warns and returns)
  return calculateGain(opts.nonlinearity ?? 'leaky_relu', opts.a ?? 0) / Math.sqrt(fan);
}

/** He normal: N(0, std²), std = gain/sqrt(fan). torchvision's convs: { mode: 'fan_out', nonlinearity: 'relu' }. */
export function kaimingNormal(t: Tensor, opts: KaimingOptions = {}): Tensor {
  return normal(t, 0, kaimingStd(t, opts, 'kaimingNormal'), opts);
}

/** He uniform: U(-bound, bound), bound = sqrt(3)·gain/sqrt(fan). nn.Linear/Conv2d use a = sqrt(5). */
export function kaimingUniform(t: Tensor, opts: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd(t, opts, 'kaimingUniform');
  return uniform(t, -bound, bound, opts);
}

export function xavierUniform(t: Tensor, gain = 1, opts: InitOptions = {}): Tensor {
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform(t, -bound, bound, opts);
}

export function xavierNormal(t: Tensor, gain = 1, opts: InitOptions = {}): Tensor {
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  return normal(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)), opts);
}
