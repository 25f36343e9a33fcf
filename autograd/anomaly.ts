// Anomaly mode (torch.autograd.detect_anomaly): while it is on, every recorded op checks its
// output for NaN and ±Infinity, backward checks every gradient a backward function returns, and
// each graph node keeps the stack of the call that created it, so that the error can say which
// op made the bad value and where that op was called. Off by default; then the whole cost is one
// boolean test per op.
import { AutogradError, DeviceError, fmtShape } from '../core/errors.js';
import { isFloat } from '../core/dtype.js';
import type { Tensor } from '../core/tensor.js';

let enabled = false;
/** > 0 while a backward function runs: ops it calls are intermediate steps, not forward ops. */
let backwardDepth = 0;

export function isAnomalyEnabled(): boolean {
  return enabled;
}

/** Turn anomaly mode on or off for everything that follows (torch.autograd.set_detect_anomaly). */
export function setDetectAnomaly(on: boolean): void {
  if (typeof on !== 'boolean') throw new AutogradError(`setDetectAnomaly: argument 'on' must be a boolean, but got ${typeof on}`);
  enabled = on;
}

/** Run `fn` with anomaly mode on, restoring the previous setting after (torch.autograd.detect_anomaly). */
export function detectAnomaly<T>(fn: () => T): T {
  const prev = enabled;
  enabled = true;
  try {
    return fn();
  } finally {
    enabled = prev;
  }
}

/** Around one backward function (try/finally): the ops it calls are not checked as forward ops. */
export function enterBackwardStep(): void {
  backwardDepth++;
}
export function leaveBackwardStep(): void {
  backwardDepth--;
}

/** Should a freshly made op output be checked now? */
export function checksForward(): boolean {
  return enabled && backwardDepth === 0;
}

/** `[Float32 [2, 3]]`: how torch's autograd messages name a tensor. */
export function fmtTensor(t: Tensor): string {
  return `[${t.dtype[0].toUpperCase()}${t.dtype.slice(1)} ${fmtShape(t.shape)}]`;
}

/** Index (row-major) and value of the first NaN or ±Infinity in t, or null (also for device tensors that cannot be read synchronously). */
export function firstNonFinite(t: Tensor): { index: number; value: number } | null {
  if (!isFloat(t.dtype)) return null;
  // a contiguous tensor is scanned where it lies; a strided one is gathered first
  let values: ArrayLike<number>;
  let start = 0;
  try {
    if (t.isContiguous()) {
      values = t.backend.readSync(t.asInput().buffer, t.dtype, t.storage.size);
      start = t.offset;
    } else values = t.toArray();
  } catch (e) {
    if (e instanceof DeviceError) return null; // an asynchronous device: not checked (documented)
    throw e;
  }
  const end = start + t.numel();
  for (let i = start; i < end; i++) {
    const v = values[i] as number;
    if (v !== v || v === Number.POSITIVE_INFINITY || v === Number.NEGATIVE_INFINITY) return { index: i - start, value: v };
  }
  return null;
}

// Frames of the engine's own machinery are trimmed from captured stacks; nn/ and models/ frames
// stay, so a stack shows the module's forward and the user's line that called it.
const root = new URL('..', import.meta.url);
const ownDirs = ['autograd/', 'core/', 'kernels/'].flatMap((d) => [new URL(d, root).href, decodeURIComponent(new URL(d, root).pathname)]);
const maxFrames = 24;

/** A call stack captured now and formatted on first read (formatting, with source maps, is the costly part). */
export interface CapturedStack {
  readonly text: string;
}

/** The current call stack, to be read without our own frames (captured only in anomaly mode). */
export function captureStack(): CapturedStack {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 100; // deep models nest far below the user's line
  const origin = new Error();
  Error.stackTraceLimit = limit;
  let text: string | null = null;
  return {
    get text() {
      text ??= trimStack(origin.stack ?? '');
      return text;
    },
  };
}

function trimStack(raw: string): string {
  const frames = raw
    .split('\n')
    .slice(1)
    .map((l) => l.trim())
    .filter((l) => l.startsWith('at ') && !l.includes('node:internal') && !ownDirs.some((d) => l.includes(d)));
  return frames
    .slice(0, maxFrames)
    .map((l) => `    ${l}`)
    .join('\n');
}

function where(stack: string | null, what: string): string {
  return stack ? `\n${what} was called at:\n${stack}` : '';
}

function fmtBad(v: number): string {
  return v !== v ? 'NaN' : String(v);
}

/** Throw if op `name`'s output holds NaN or ±Infinity, saying whether an input already did. */
export function checkForwardOutput(out: Tensor, name: string, inputs: readonly Tensor[]): void {
  const bad = firstNonFinite(out);
  if (!bad) return;
  const from = inputs.map((t, i) => ({ i, t, bad: firstNonFinite(t) })).find((x) => x.bad !== null);
  const cause = from?.bad
    ? `input ${from.i} ${fmtTensor(from.t)} already held ${fmtBad(from.bad.value)} at element ${from.bad.index}`
    : 'its inputs were finite';
  throw new AutogradError(
    `anomaly mode: '${name}' produced ${fmtBad(bad.value)} in its output ${fmtTensor(out)} at element ${bad.index} (${cause})${where(captureStack().text, `'${name}'`)}`,
  );
}

/** Throw if a backward function returned NaN or ±Infinity for one of its inputs. */
export function checkBackwardGrads(name: string, grads: readonly (Tensor | null)[], gradOutput: Tensor, stack: string | null): void {
  grads.forEach((g, i) => {
    const bad = g ? firstNonFinite(g) : null;
    if (!g || !bad) return;
    const incoming = firstNonFinite(gradOutput);
    const cause = incoming ? `the gradient coming in already held ${fmtBad(incoming.value)} at element ${incoming.index}` : 'the gradient coming in was finite';
    throw new AutogradError(
      `anomaly mode: the backward of '${name}' returned ${fmtBad(bad.value)} in its gradient for input ${i} ${fmtTensor(g)} at element ${bad.index} (${cause})${stack ? where(stack, `the forward op '${name}'`) : '\n(the forward ran without anomaly mode, so where it was called is unknown: run it under detectAnomaly too)'}`,
    );
  });
}
