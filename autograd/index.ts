// autograd: the graph engine, the ops that record on it, and gradcheck.
import '../core/cpu/index.js';
import './tensor_methods.js';

export { backward, isGradEnabled, noGrad, record, withGradEnabled, type BackwardOptions } from './graph.js';
export { detectAnomaly, isAnomalyEnabled, setDetectAnomaly } from './anomaly.js';
export { GradcheckError, gradcheck, type GradcheckOptions } from './gradcheck.js';
export * from './ops/elementwise.js';
export * from './ops/reduce.js';
export * from './ops/views.js';
export { matmul } from './ops/matmul.js';
export { logSoftmax, softmax } from './ops/softmax.js';
export { cat, gather, indexSelect, stack } from './ops/join.js';
export { runKernel, run1, type TensorLike } from './ops/dispatch.js';
