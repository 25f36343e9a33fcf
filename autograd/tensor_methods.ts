// Chained methods on Tensor (x.add(y).relu().sum().backward()). The ops live in autograd/ops;
// this file attaches them to the class from core/ so that core/ never imports autograd/.
import type { Device } from '../core/backend.js';
import type { DType } from '../core/dtype.js';
import { Tensor } from '../core/tensor.js';
import { type BackwardOptions, backward } from './graph.js';
// assign() under autograd: the leaf rule and the history of in-place writes
import './inplace.js';
import type { TensorLike } from './ops/dispatch.js';
import * as ew from './ops/elementwise.js';
import { gather, indexSelect } from './ops/join.js';
import { matmul } from './ops/matmul.js';
import { type Dims, type VarOptions, argmax, argmin, max, mean, min, sum, variance } from './ops/reduce.js';
import { logSoftmax, softmax } from './ops/softmax.js';
import * as v from './ops/views.js';

declare module '../core/tensor.js' {
  interface Tensor {
    /** backward(), backward(gradOutput), backward(gradOutput, options) or backward(options), e.g. backward({ retainGraph: true }). */
    backward(gradOutput?: Tensor | BackwardOptions, options?: BackwardOptions): void;
    add(other: TensorLike): Tensor;
    sub(other: TensorLike): Tensor;
    mul(other: TensorLike): Tensor;
    div(other: TensorLike): Tensor;
    pow(exponent: TensorLike): Tensor;
    maximum(other: TensorLike): Tensor;
    minimum(other: TensorLike): Tensor;
    eq(other: TensorLike): Tensor;
    ne(other: TensorLike): Tensor;
    lt(other: TensorLike): Tensor;
    le(other: TensorLike): Tensor;
    gt(other: TensorLike): Tensor;
    ge(other: TensorLike): Tensor;
    neg(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    sqrt(): Tensor;
    abs(): Tensor;
    sign(): Tensor;
    relu(): Tensor;
    sigmoid(): Tensor;
    tanh(): Tensor;
    square(): Tensor;
    sum(dim?: Dims, keepdim?: boolean): Tensor;
    mean(dim?: Dims, keepdim?: boolean): Tensor;
    max(dim?: Dims, keepdim?: boolean): Tensor;
    min(dim?: Dims, keepdim?: boolean): Tensor;
    /** torch.var(dim, unbiased=True, keepdim=False) */
    var(dim?: Dims, unbiased?: boolean, keepdim?: boolean): Tensor;
    std(dim?: Dims, unbiased?: boolean, keepdim?: boolean): Tensor;
    argmax(dim?: number, keepdim?: boolean): Tensor;
    argmin(dim?: number, keepdim?: boolean): Tensor;
    matmul(other: Tensor): Tensor;
    softmax(dim: number): Tensor;
    logSoftmax(dim: number): Tensor;
    gather(dim: number, index: Tensor): Tensor;
    indexSelect(dim: number, index: Tensor): Tensor;
    view(shape: readonly number[]): Tensor;
    reshape(shape: readonly number[]): Tensor;
    flatten(startDim?: number, endDim?: number): Tensor;
    permute(dims: readonly number[]): Tensor;
    transpose(dim0: number, dim1: number): Tensor;
    t(): Tensor;
    expand(shape: readonly number[]): Tensor;
    expandAs(other: Tensor): Tensor;
    squeeze(dim?: number): Tensor;
    unsqueeze(dim: number): Tensor;
    slice(dim: number, start?: number, end?: number, step?: number): Tensor;
    narrow(dim: number, start: number, length: number): Tensor;
    select(dim: number, index: number): Tensor;
    contiguous(): Tensor;
    clone(): Tensor;
    detach(): Tensor;
    /** Convert dtype or move device: x.to('float64'), x.to('gpu'). */
    to(target: DType | Device): Tensor;
    double(): Tensor;
    float(): Tensor;
    int(): Tensor;
  }
}

const P = Tensor.prototype;
P.backward = function (this: Tensor, g?: Tensor | BackwardOptions, o?: BackwardOptions) {
  backward(this, g, o);
};
P.add = function (o) {
  return ew.add(this, o);
};
P.sub = function (o) {
  return ew.sub(this, o);
};
P.mul = function (o) {
  return ew.mul(this, o);
};
P.div = function (o) {
  return ew.div(this, o);
};
P.pow = function (o) {
  return ew.pow(this, o);
};
P.maximum = function (o) {
  return ew.maximum(this, o);
};
P.minimum = function (o) {
  return ew.minimum(this, o);
};
P.eq = function (o) {
  return ew.eq(this, o);
};
P.ne = function (o) {
  return ew.ne(this, o);
};
P.lt = function (o) {
  return ew.lt(this, o);
};
P.le = function (o) {
  return ew.le(this, o);
};
P.gt = function (o) {
  return ew.gt(this, o);
};
P.ge = function (o) {
  return ew.ge(this, o);
};
P.neg = function () {
  return ew.neg(this);
};
P.exp = function () {
  return ew.exp(this);
};
P.log = function () {
  return ew.log(this);
};
P.sqrt = function () {
  return ew.sqrt(this);
};
P.abs = function () {
  return ew.abs(this);
};
P.sign = function () {
  return ew.sign(this);
};
P.relu = function () {
  return ew.relu(this);
};
P.sigmoid = function () {
  return ew.sigmoid(this);
};
P.tanh = function () {
  return ew.tanh(this);
};
P.square = function () {
  return ew.square(this);
};
P.sum = function (d, k) {
  return sum(this, d, k);
};
P.mean = function (d, k) {
  return mean(this, d, k);
};
P.max = function (d, k) {
  return max(this, d, k);
};
P.min = function (d, k) {
  return min(this, d, k);
};
P.var = function (d, unbiased, keepdim) {
  return variance(this, d, { unbiased, keepdim } as VarOptions);
};
P.std = function (d, unbiased, keepdim) {
  return ew.sqrt(variance(this, d, { unbiased, keepdim } as VarOptions));
};
P.argmax = function (d, k) {
  return argmax(this, d, k);
};
P.argmin = function (d, k) {
  return argmin(this, d, k);
};
P.matmul = function (o) {
  return matmul(this, o);
};
P.softmax = function (d) {
  return softmax(this, d);
};
P.logSoftmax = function (d) {
  return logSoftmax(this, d);
};
P.gather = function (d, i) {
  return gather(this, d, i);
};
P.indexSelect = function (d, i) {
  return indexSelect(this, d, i);
};
P.view = function (s) {
  return v.view(this, s);
};
P.reshape = function (s) {
  return v.reshape(this, s);
};
P.flatten = function (s, e) {
  return v.flatten(this, s, e);
};
P.permute = function (d) {
  return v.permute(this, d);
};
P.transpose = function (a, b) {
  return v.transpose(this, a, b);
};
P.t = function () {
  return v.t(this);
};
P.expand = function (s) {
  return v.expand(this, s);
};
P.expandAs = function (o) {
  return v.expandAs(this, o);
};
P.squeeze = function (d) {
  return v.squeeze(this, d);
};
P.unsqueeze = function (d) {
  return v.unsqueeze(this, d);
};
P.slice = function (d, s, e, st) {
  return v.slice(this, d, s, e, st);
};
P.narrow = function (d, s, l) {
  return v.narrow(this, d, s, l);
};
P.select = function (d, i) {
  return v.select(this, d, i);
};
P.contiguous = function () {
  return v.contiguous(this);
};
P.clone = function () {
  return v.clone(this);
};
P.detach = function () {
  return v.detach(this);
};
P.to = function (target) {
  return target === 'cpu' || target === 'gpu' ? v.toDevice(this, target) : v.toDtype(this, target);
};
P.double = function () {
  return v.toDtype(this, 'float64');
};
P.float = function () {
  return v.toDtype(this, 'float32');
};
P.int = function () {
  return v.toDtype(this, 'int32');
};
