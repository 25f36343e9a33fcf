// Pooling modules: thin wrappers that hold the options of the functional ops.
import type { Tensor } from '../../core/tensor.js';
import { Module } from '../module.js';
import type { IntPair } from '../ops/conv.js';
import { type AdaptiveSize, type AvgPool2dOptions, type MaxPool2dOptions, adaptiveAvgPool2d, avgPool2d, maxPool2d, maxPool2dWithIndices } from '../ops/pool.js';

/** nn.MaxPool2d(kernelSize, { stride, padding, dilation, ceilMode }); forwardWithIndices gives [y, indices]. */
export class MaxPool2d extends Module {
  constructor(
    readonly kernelSize: IntPair,
    readonly options: MaxPool2dOptions = {},
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.kernelSize, this.options);
  }
  forwardWithIndices(x: Tensor): [Tensor, Tensor] {
    return maxPool2dWithIndices(x, this.kernelSize, this.options);
  }
  override extraRepr(): string {
    const o = this.options;
    return `kernel_size=${JSON.stringify(this.kernelSize)}, stride=${JSON.stringify(o.stride ?? this.kernelSize)}, padding=${JSON.stringify(o.padding ?? 0)}, dilation=${JSON.stringify(o.dilation ?? 1)}, ceil_mode=${o.ceilMode ?? false}`;
  }
}

/** nn.AvgPool2d(kernelSize, { stride, padding, ceilMode, countIncludePad, divisorOverride }). */
export class AvgPool2d extends Module {
  constructor(
    readonly kernelSize: IntPair,
    readonly options: AvgPool2dOptions = {},
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return avgPool2d(x, this.kernelSize, this.options);
  }
  override extraRepr(): string {
    const o = this.options;
    return `kernel_size=${JSON.stringify(this.kernelSize)}, stride=${JSON.stringify(o.stride ?? this.kernelSize)}, padding=${JSON.stringify(o.padding ?? 0)}`;
  }
}

/** nn.AdaptiveAvgPool2d(outputSize): torchvision's ResNets end with AdaptiveAvgPool2d(1). */
export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: AdaptiveSize) {
    super();
  }
  forward(x: Tensor): Tensor {
    return adaptiveAvgPool2d(x, this.outputSize);
  }
  override extraRepr(): string {
    return `output_size=${JSON.stringify(this.outputSize)}`;
  }
}
