// F: the functional ops a model is written with (torch.nn.functional). Convolution, pooling,
// normalisation and losses join this file's exports as their kernels land.
export { relu, sigmoid, tanh } from '../autograd/ops/elementwise.js';
export { softmax, logSoftmax } from '../autograd/ops/softmax.js';
