// The grouped-conv calculator of the Look tab. The numbers are the engine's own: parameters are
// counted on a real nn.Conv2d (numParameters()), multiply-adds by nn/conv_arith's conv2dMacs,
// which is the counter models/summary.ts uses for every Conv2d; output size by conv2dOutputSize.
import { conv2dMacs, conv2dOutputSize } from '../nn/conv_arith.js';
import { Conv2d } from '../nn/layers/conv.js';
import { ValueError } from '../core/errors.js';

export interface ConvCost {
  groups: number;
  /** Input channels each output channel reads: C_in / groups. */
  fanInChannels: number;
  params: number;
  /** Multiply-adds for one image. */
  macs: number;
}

// each count builds the layer (its weights too): sizes a page fills in a blink
export const CALC_LIMITS = { channels: 256, size: 128 } as const;

function checkInt(name: string, v: number, lo: number, hi: number): void {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new ValueError(`${name} must be an integer from ${lo} to ${hi}, but got ${String(v)}`);
}

/** The group counts a 3×3 conv from cIn to cOut channels can take: the common divisors. */
export function validGroups(cIn: number, cOut: number): number[] {
  checkInt('C_in', cIn, 1, CALC_LIMITS.channels);
  checkInt('C_out', cOut, 1, CALC_LIMITS.channels);
  const out: number[] = [];
  for (let g = 1; g <= Math.min(cIn, cOut); g++) if (cIn % g === 0 && cOut % g === 0) out.push(g);
  return out;
}

/** Params (no bias) and multiply-adds of a 3×3, stride-1, padding-1 conv on an H×W image. */
export function groupedConvCost(cIn: number, cOut: number, h: number, w: number, groups: number): ConvCost {
  checkInt('H', h, 1, CALC_LIMITS.size);
  checkInt('W', w, 1, CALC_LIMITS.size);
  if (!validGroups(cIn, cOut).includes(groups)) {
    throw new ValueError(`groups must divide both C_in (${cIn}) and C_out (${cOut}), but got ${String(groups)}`);
  }
  const conv = new Conv2d(cIn, cOut, 3, { padding: 1, groups, bias: false });
  const out: [number, number] = [conv2dOutputSize(h, 3, 1, 1), conv2dOutputSize(w, 3, 1, 1)];
  return { groups, fanInChannels: cIn / groups, params: conv.numParameters(), macs: conv2dMacs({ inChannels: conv.inChannels, outChannels: conv.outChannels, kernelSize: conv.kernelSize, groups: conv.groups }, out) };
}
