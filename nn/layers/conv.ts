// nn.Conv2d: weight [out, in/groups, kh, kw] and bias [out] (on by default), initialised as
// torch's reset_parameters: kaiming_uniform(a = √5), i.e. U(−1/√fan_in, 1/√fan_in) with
// fan_in = in/groups·kh·kw, and the bias from the same U(−1/√fan_in, 1/√fan_in).
import { zeros } from '../../core/creation.js';
import type { FloatDType } from '../../core/dtype.js';
import { ValueError } from '../../core/errors.js';
import type { Generator } from '../../core/random.js';
import type { Tensor } from '../../core/tensor.js';
import { kaimingUniform, uniform } from '../init.js';
import { Module } from '../module.js';
import { type IntPair, conv2d, pair } from '../ops/conv.js';

export interface Conv2dModuleOptions {
  stride?: IntPair;
  padding?: IntPair | 'same' | 'valid';
  dilation?: IntPair;
  groups?: number;
  bias?: boolean;
  dtype?: FloatDType;
  /** Draw the initial values from this generator (default: the global one). */
  generator?: Generator;
}

export class Conv2d extends Module {
  weight!: Tensor;
  bias!: Tensor | null;
  readonly kernelSize: [number, number];
  readonly stride: IntPair;
  readonly padding: IntPair | 'same' | 'valid';
  readonly dilation: IntPair;
  readonly groups: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: IntPair,
    opts: Conv2dModuleOptions = {},
  ) {
    super();
    const op = 'Conv2d';
    const groups = opts.groups ?? 1;
    for (const [arg, v] of [['inChannels', inChannels], ['outChannels', outChannels]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ValueError(`${op}: argument '${arg}' must be a positive integer, but got ${v}`);
    }
    if (!Number.isInteger(groups) || groups < 1) throw new ValueError(`${op}: groups must be a positive integer, but got ${groups}`);
    if (inChannels % groups !== 0) throw new ValueError(`${op}: in_channels must be divisible by groups (${inChannels} % ${groups} != 0)`);
    if (outChannels % groups !== 0) throw new ValueError(`${op}: out_channels must be divisible by groups (${outChannels} % ${groups} != 0)`);
    this.kernelSize = pair(kernelSize, op, 'kernelSize', 1, 'kernel size should be greater than zero');
    this.stride = opts.stride ?? 1;
    this.padding = opts.padding ?? 0;
    this.dilation = opts.dilation ?? 1;
    this.groups = groups;
    if (this.padding === 'same' && pair(this.stride, op, 'stride', 1, 'non-positive stride is not supported').some((s) => s !== 1)) {
      throw new ValueError(`${op}: padding='same' is not supported for strided convolutions`);
    }
    const dtype = opts.dtype ?? 'float32';
    const [kh, kw] = this.kernelSize;
    this.registerParameter('weight', zeros([outChannels, inChannels / groups, kh, kw], { dtype }));
    this.registerParameter('bias', opts.bias === false ? null : zeros([outChannels], { dtype }));
    this.resetParameters(opts.generator);
  }

  resetParameters(generator?: Generator): void {
    kaimingUniform(this.weight, { a: Math.sqrt(5), generator });
    if (this.bias) {
      const fanIn = (this.inChannels / this.groups) * this.kernelSize[0] * this.kernelSize[1];
      const bound = 1 / Math.sqrt(fanIn);
      uniform(this.bias, -bound, bound, { generator });
    }
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups });
  }

  override extraRepr(): string {
    const parts = [`${this.inChannels}, ${this.outChannels}, kernel_size=(${this.kernelSize.join(', ')})`];
    const show = (v: IntPair | string): string => (typeof v === 'number' ? `(${v}, ${v})` : typeof v === 'string' ? v : `(${v.join(', ')})`);
    if (show(this.stride) !== '(1, 1)') parts.push(`stride=${show(this.stride)}`);
    if (show(this.padding) !== '(0, 0)') parts.push(`padding=${show(this.padding)}`);
    if (show(this.dilation) !== '(1, 1)') parts.push(`dilation=${show(this.dilation)}`);
    if (this.groups !== 1) parts.push(`groups=${this.groups}`);
    if (!this.bias) parts.push('bias=False');
    return parts.join(', ');
  }
}
