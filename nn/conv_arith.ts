// Counting a convolution: the numbers behind "why grouped convolution is cheaper".
//   params = O · (C/groups) · kh · kw  (+ O for the bias)
//   MACs   = O · (C/groups) · kh · kw · Hout · Wout   per image (each output value is one
//            dot product of length C/groups·kh·kw); FLOPs ≈ 2 · MACs.
// Splitting C→O into g groups divides both by g: each output channel sees only C/g inputs.
import { ValueError } from '../core/errors.js';
import { type IntPair, pair } from './ops/conv.js';

export interface ConvSpec {
  inChannels: number;
  outChannels: number;
  kernelSize: IntPair;
  groups?: number;
  bias?: boolean;
}

function parts(spec: ConvSpec, op: string): { fanIn: number; o: number } {
  const g = spec.groups ?? 1;
  if (!Number.isInteger(g) || g < 1 || spec.inChannels % g !== 0 || spec.outChannels % g !== 0) {
    throw new ValueError(`${op}: groups (${g}) must be a positive integer dividing inChannels (${spec.inChannels}) and outChannels (${spec.outChannels})`);
  }
  const [kh, kw] = pair(spec.kernelSize, op, 'kernelSize', 1, 'kernel size should be greater than zero');
  return { fanIn: (spec.inChannels / g) * kh * kw, o: spec.outChannels };
}

/** Learnable parameters of a conv layer (bias counted unless bias: false). */
export function conv2dParams(spec: ConvSpec): number {
  const { fanIn, o } = parts(spec, 'conv2dParams');
  return o * fanIn + (spec.bias === false ? 0 : o);
}

/** Multiply-accumulates of one image through the layer, for an output of outSize = [Hout, Wout]. */
export function conv2dMacs(spec: ConvSpec, outSize: IntPair): number {
  const { fanIn, o } = parts(spec, 'conv2dMacs');
  const [oh, ow] = pair(outSize, 'conv2dMacs', 'outSize', 0, 'output size must be non-negative');
  return o * fanIn * oh * ow;
}

/** Output size along one axis: ⌊(in + pBefore + pAfter − d·(k − 1) − 1) / s⌋ + 1. */
export function conv2dOutputSize(inSize: number, kernel: number, stride = 1, padding = 0, dilation = 1): number {
  return Math.floor((inSize + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1;
}
