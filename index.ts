// resgrad's public entry. PyTorch-shaped: tensors, autograd, functional ops (F).
import './core/cpu/index.js';
import './autograd/tensor_methods.js';

export { Tensor, Storage, type GradNode } from './core/tensor.js';
export type { DType, FloatDType, TypedArray } from './core/dtype.js';
export { type Backend, type Device, getBackend, registerBackend, hasBackend } from './core/backend.js';
export {
  tensor, zeros, ones, full, arange, randn, rand, randint,
  zerosLike, onesLike, fullLike, randnLike, randLike,
  type TensorOptions, type RandomOptions,
} from './core/creation.js';
export { Generator, manualSeed, defaultGenerator, getRngState, setRngState, type RngState } from './core/random.js';
export {
  ResgradError, ShapeError, DTypeError, ValueError, AutogradError, DeviceError, OverflowError, SizeError,
} from './core/errors.js';
export { setMemoryBudget, getMemoryBudget, resetMemoryBudget, DEFAULT_MEMORY_BUDGET } from './core/allocator.js';
export { MAX_NUMEL } from './core/shape.js';
export { initGpu, type GpuOptions } from './core/gpu/init.js';
export { GpuBackend, type GpuMode } from './core/gpu/device.js';
export { tidy, gpuScope, keep } from './core/scope.js';
export { setNumThreads, getNumThreads } from './kernels/wasm/runtime.js';
export * as variants from './core/cpu/variants.js';
export { noGrad, withGradEnabled, isGradEnabled } from './autograd/graph.js';
export {
  add, sub, mul, div, pow, maximum, minimum, eq, ne, lt, le, gt, ge, where,
  neg, exp, log, sqrt, abs, relu, sigmoid, tanh,
} from './autograd/ops/elementwise.js';
export { sum, mean, max, min, variance as var_, argmax, argmin } from './autograd/ops/reduce.js';
export { matmul } from './autograd/ops/matmul.js';
export { softmax, logSoftmax } from './autograd/ops/softmax.js';
export { cat, stack, gather, indexSelect } from './autograd/ops/join.js';
export { reshape, permute, transpose, expand, squeeze, unsqueeze, narrow, slice, flatten } from './autograd/ops/views.js';
export * as autograd from './autograd/index.js';
export * as F from './nn/functional.js';
export * as nn from './nn/index.js';
export * as models from './models/index.js';
export * as data from './data/index.js';
export {
  saveCheckpoint, loadCheckpoint, findCheckpoint, CheckpointError,
  type CheckpointParts, type SaveCheckpointOptions,
} from './train/checkpoint.js';
export * as optim from './nn/optim/index.js';
export * as io from './models/io.js';
export type { LoadOptions } from './models/safetensors.js';
export { summary, registerMacCounter, type ModelSummary, type SummaryRow } from './models/summary.js';
