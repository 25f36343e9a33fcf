// Every kernel a backend may run, by name, with the attributes it takes. Ops call kernels by
// these names; each device (CPU variants, gpu.js) registers implementations under them. The map
// makes a misspelt name or a missing attribute a compile error instead of a runtime surprise.
import type { BinaryOp, UnaryOp } from '../kernels/cpu/elementwise.js';
import type { ReduceOp } from '../kernels/cpu/reduce.js';
import type { AvgPoolOptions, ConvGeometry, NormLayout, PoolGeometry } from '../kernels/geometry.js';
import type { DType } from './dtype.js';

/** The attributes of the norm kernels: the layout x[N, C, S] is read as, ε, which affine inputs are present. */
export interface NormAttrs extends NormLayout {
  eps: number;
  hasWeight: boolean;
  hasBias: boolean;
  /**
   * A ReLU follows, fused: the forwards return relu(y); the backward takes the gradient of relu(y),
   * masks it by y > 0 (y recomputed from x, the statistics, γ and β: β is then its last input) and
   * goes on as the plain backward.
   */
  relu?: boolean;
}

/** Kernel name → its attributes. Inputs and outputs of each are listed beside its CPU adapter. */
export interface KernelAttrMap {
  copy: { dtype?: DType };
  unary: { op: UnaryOp };
  binary: { op: BinaryOp; dtype: DType };
  where: Record<string, never>;
  scatterView: { shape: readonly number[]; strides: readonly number[]; offset: number };
  cat: { dim: number };
  reduce: { op: ReduceOp; dims: readonly number[]; dtype?: DType };
  argReduce: { op: 'argmax' | 'argmin'; dim: number };
  softmax: { dim: number; log: boolean };
  gather: { dim: number };
  gatherBackward: { dim: number; shape: readonly number[] };
  matmul: Record<string, never>;
  /** relu: y = max(conv + bias, 0), fused into the write-back (NaN kept, as the unary relu). */
  conv2d: { geom: ConvGeometry; relu?: boolean };
  conv2dBackwardInput: { geom: ConvGeometry };
  conv2dBackwardWeight: { geom: ConvGeometry };
  conv2dBackwardBias: { geom: ConvGeometry };
  normForward: NormAttrs;
  normApply: NormAttrs;
  normBackward: NormAttrs & { batchStats: boolean };
  maxPool2d: { geom: PoolGeometry };
  maxPool2dBackward: { geom: PoolGeometry; inputShape: readonly number[] };
  avgPool2d: { geom: PoolGeometry; options: AvgPoolOptions };
  avgPool2dBackward: { geom: PoolGeometry; options: AvgPoolOptions; inputShape: readonly number[] };
  adaptiveAvgPool2d: { oh: number; ow: number };
  adaptiveAvgPool2dBackward: { inputShape: readonly number[] };
}

export type KernelName = keyof KernelAttrMap;
