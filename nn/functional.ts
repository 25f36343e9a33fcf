// F: the functional ops a model is written with (torch.nn.functional). Convolution, pooling,
// normalisation and losses join this file's exports as their kernels land.
export { relu, sigmoid, tanh, addRelu } from '../autograd/ops/elementwise.js';
export { softmax, logSoftmax } from '../autograd/ops/softmax.js';
export { conv2d, conv2dRelu, type Conv2dOptions } from './ops/conv.js';
export { maxPool2d, maxPool2dWithIndices, avgPool2d, adaptiveAvgPool2d, type MaxPool2dOptions, type AvgPool2dOptions } from './ops/pool.js';
export { linear } from './ops/linear.js';
export { dropout, type DropoutOptions } from './ops/dropout.js';
export { nllLoss, crossEntropy, type NllLossOptions, type CrossEntropyOptions, type Reduction } from './ops/loss.js';
export { batchNorm, batchNormRelu, layerNorm, instanceNorm, groupNorm, type BatchNormOptions, type LayerNormOptions, type InstanceNormOptions, type GroupNormOptions } from './ops/norm.js';
