// nn: modules (layers with parameters) and the functional ops they call.
export { Module, type ForwardHook, type ForwardPreHook, type HookHandle, type GradInfo, type LoadResult } from './module.js';
export { Linear, ReLU, Identity, Flatten, Dropout, Sequential, type LinearOptions } from './layers/basic.js';
export * as init from './init.js';
export { Conv2d, type Conv2dModuleOptions } from './layers/conv.js';
export { MaxPool2d, AvgPool2d, AdaptiveAvgPool2d } from './layers/pool.js';
export { conv2dParams, conv2dMacs, conv2dOutputSize, type ConvSpec } from './conv_arith.js';
export { BatchNorm1d, BatchNorm2d, InstanceNorm2d, LayerNorm, GroupNorm } from './layers/norm.js';
export { convBn, convBnLayer, residualJoin, canFold, fusion } from './fuse.js';
