// One optimizer step on the WASM SIMD runtime (source kernels/wasm/src/optim.wat), in place on
// Float32Arrays, with torch 1.13's rules as nn/optim/sgd.ts and nn/optim/adam.ts state them:
//   sgdStepWasm   SGD with momentum, dampening, nesterov, weight decay, maximize; on the first
//                 step the momentum buffer becomes the (decayed) gradient, as torch.
//   adamStepWasm  Adam (L2 term in the gradient) and AdamW (decoupled decay), amsgrad, maximize;
//                 the bias corrections are worked out here, in float64, from the step count.
// The arrays are staged into the arena, updated over the pool in one fused pass, and param and
// the state buffers are copied back; grad is only read. Arrays that already live in the wasm
// memory are updated where they are (they must not share bytes).

import { checkFloat32, finishOutput, outputAt, runBySize, stage, wasmOffsetOf, wasmRuntimeFor } from './elementwise.js';

/** torch.optim.SGD's hyper-parameters (nn/optim/sgd.ts's SGDOptions). */
export interface SgdStepOptions {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  maximize: boolean;
}

/** torch.optim.Adam's / AdamW's hyper-parameters (nn/optim/adam.ts's AdamOptions) and which of the two. */
export interface AdamStepOptions {
  lr: number;
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
  /** true: AdamW's θ ← θ·(1 − lr·λ); false: Adam's g ← g + λθ. */
  decoupled: boolean;
}

function checkNumber(caller: string, name: string, v: number, ok: (v: number) => boolean, what: string): void {
  if (typeof v !== 'number' || !ok(v)) throw new RangeError(`${caller}: ${name} must be ${what}, got ${String(v)}`);
}

function checkBoolean(caller: string, name: string, v: boolean): void {
  if (typeof v !== 'boolean') throw new TypeError(`${caller}: ${name} must be a boolean, got ${typeof v}`);
}

/**
 * The arrays of one step that live in the wasm memory (used in place) must not share bytes: each
 * is updated element by element from the others' old values.
 */
function checkSeparate(caller: string, home: ArrayBufferLike, arrays: Record<string, Float32Array | null>): void {
  const placed = Object.entries(arrays).filter((e): e is [string, Float32Array] => e[1] !== null && wasmOffsetOf(home, e[1]) >= 0);
  for (let i = 0; i < placed.length; i++) {
    for (let j = i + 1; j < placed.length; j++) {
      const [na, a] = placed[i]!;
      const [nb, b] = placed[j]!;
      if (a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength) {
        throw new RangeError(`${caller}: ${na} and ${nb} share bytes of the wasm memory; each needs its own`);
      }
    }
  }
}

// flag bits of sgd_step and adam_step (optim.wat)
const SGD_MOMENTUM = 1;
const SGD_FIRST = 2;
const SGD_NESTEROV = 4;
const SGD_MAXIMIZE = 8;
const SGD_DECAY = 16;
const ADAM_AMSGRAD = 1;
const ADAM_DECOUPLED = 2;
const ADAM_MAXIMIZE = 4;
const ADAM_DECAY = 16;

/**
 * One SGD step: param (and momentumBuffer when momentum != 0) updated in place from grad.
 * firstStep: the buffer is set to the gradient instead of decayed (torch's state on its first
 * step); it is not read then. momentumBuffer may be null when momentum is 0.
 */
export function sgdStepWasm(
  param: Float32Array,
  grad: Float32Array,
  momentumBuffer: Float32Array | null,
  firstStep: boolean,
  o: SgdStepOptions,
): void {
  const caller = 'sgdStepWasm';
  checkFloat32(caller, 'param', param);
  checkFloat32(caller, 'grad', grad, param.length, 'as many as param');
  checkNumber(caller, 'o.lr', o.lr, (v) => v >= 0, 'a number >= 0');
  checkNumber(caller, 'o.momentum', o.momentum, (v) => v >= 0, 'a number >= 0');
  checkNumber(caller, 'o.dampening', o.dampening, (v) => !Number.isNaN(v), 'a number');
  checkNumber(caller, 'o.weightDecay', o.weightDecay, (v) => v >= 0, 'a number >= 0');
  checkBoolean(caller, 'o.nesterov', o.nesterov);
  checkBoolean(caller, 'o.maximize', o.maximize);
  checkBoolean(caller, 'firstStep', firstStep);
  if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0)) {
    throw new RangeError(`${caller}: nesterov needs momentum > 0 and dampening 0, got momentum ${o.momentum} and dampening ${o.dampening}`);
  }
  const hasMomentum = o.momentum !== 0;
  if (hasMomentum) {
    if (momentumBuffer === null) throw new TypeError(`${caller}: momentumBuffer must be a Float32Array when o.momentum is ${o.momentum}, got null`);
    checkFloat32(caller, 'momentumBuffer', momentumBuffer, param.length, 'as many as param');
  }
  const n = param.length;
  const rt = wasmRuntimeFor(caller);
  const home = rt.memory.buffer; // the memory as this call found it (see stage())
  if (n === 0) return;
  const flags =
    (hasMomentum ? SGD_MOMENTUM : 0) |
    (firstStep ? SGD_FIRST : 0) |
    (o.nesterov ? SGD_NESTEROV : 0) |
    (o.maximize ? SGD_MAXIMIZE : 0) |
    (o.weightDecay !== 0 ? SGD_DECAY : 0);
  checkSeparate(caller, home, { param, grad, momentumBuffer: hasMomentum ? momentumBuffer : null });
  const mark = rt.mark();
  try {
    const ps = stage(rt, home, param);
    const gs = stage(rt, home, grad);
    // the buffer's old values matter only after the first step
    const bs = !hasMomentum ? ps : firstStep ? outputAt(rt, home, momentumBuffer!) : stage(rt, home, momentumBuffer!);
    runBySize(rt, 'sgd_step', [ps, gs, bs, n, o.lr, o.momentum, 1 - o.dampening, o.weightDecay, flags], 3 * n);
    finishOutput(rt, home, param, ps);
    if (hasMomentum) finishOutput(rt, home, momentumBuffer!, bs);
  } finally {
    rt.release(mark);
  }
}

/**
 * One Adam / AdamW step: param, expAvg, expAvgSq (and maxExpAvgSq with amsgrad) updated in place
 * from grad; `step` is the step number being taken, counting from 1 (torch's state['step'] after
 * its increment).
 */
export function adamStepWasm(
  param: Float32Array,
  grad: Float32Array,
  expAvg: Float32Array,
  expAvgSq: Float32Array,
  maxExpAvgSq: Float32Array | null,
  step: number,
  o: AdamStepOptions,
): void {
  const caller = 'adamStepWasm';
  checkFloat32(caller, 'param', param);
  const n = param.length;
  checkFloat32(caller, 'grad', grad, n, 'as many as param');
  checkFloat32(caller, 'expAvg', expAvg, n, 'as many as param');
  checkFloat32(caller, 'expAvgSq', expAvgSq, n, 'as many as param');
  checkNumber(caller, 'step', step, (v) => Number.isInteger(v) && v >= 1, 'an integer >= 1');
  checkNumber(caller, 'o.lr', o.lr, (v) => v >= 0, 'a number >= 0');
  checkNumber(caller, 'o.eps', o.eps, (v) => v >= 0, 'a number >= 0');
  checkNumber(caller, 'o.weightDecay', o.weightDecay, (v) => v >= 0, 'a number >= 0');
  if (!Array.isArray(o.betas) || o.betas.length !== 2) throw new TypeError(`${caller}: o.betas must be [beta1, beta2], got ${String(o.betas)}`);
  const [beta1, beta2] = o.betas;
  checkNumber(caller, 'o.betas[0]', beta1, (v) => v >= 0 && v < 1, 'in [0, 1)');
  checkNumber(caller, 'o.betas[1]', beta2, (v) => v >= 0 && v < 1, 'in [0, 1)');
  checkBoolean(caller, 'o.amsgrad', o.amsgrad);
  checkBoolean(caller, 'o.maximize', o.maximize);
  checkBoolean(caller, 'o.decoupled', o.decoupled);
  if (o.amsgrad) {
    if (maxExpAvgSq === null) throw new TypeError(`${caller}: maxExpAvgSq must be a Float32Array when o.amsgrad is true, got null`);
    checkFloat32(caller, 'maxExpAvgSq', maxExpAvgSq, n, 'as many as param');
  }
  const rt = wasmRuntimeFor(caller);
  const home = rt.memory.buffer; // the memory as this call found it (see stage())
  if (n === 0) return;
  const stepSize = o.lr / (1 - beta1 ** step);
  const bc2 = Math.sqrt(1 - beta2 ** step);
  const flags =
    (o.amsgrad ? ADAM_AMSGRAD : 0) | (o.decoupled ? ADAM_DECOUPLED : 0) | (o.maximize ? ADAM_MAXIMIZE : 0) | (o.weightDecay !== 0 ? ADAM_DECAY : 0);
  checkSeparate(caller, home, { param, grad, expAvg, expAvgSq, maxExpAvgSq: o.amsgrad ? maxExpAvgSq : null });
  const mark = rt.mark();
  try {
    const ps = stage(rt, home, param);
    const gs = stage(rt, home, grad);
    const ms = stage(rt, home, expAvg);
    const vs = stage(rt, home, expAvgSq);
    const xs = o.amsgrad ? stage(rt, home, maxExpAvgSq!) : ps;
    runBySize(
      rt,
      'adam_step',
      [ps, gs, ms, vs, xs, n, beta1, beta2, 1 - beta1, 1 - beta2, o.eps, o.weightDecay, 1 - o.lr * o.weightDecay, stepSize, bc2, flags],
      4 * n,
    );
    finishOutput(rt, home, param, ps);
    finishOutput(rt, home, expAvg, ms);
    finishOutput(rt, home, expAvgSq, vs);
    if (o.amsgrad) finishOutput(rt, home, maxExpAvgSq!, xs);
  } finally {
    rt.release(mark);
  }
}
