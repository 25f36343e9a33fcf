// Errors name the operation, the argument, what was expected and what was given,
// in the manner of PyTorch's messages.

export class ResgradError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
/** Shapes that do not fit: broadcasting, matmul inner dims, view on strided data, ... */
export class ShapeError extends ResgradError {}
/** A dtype the op does not accept (e.g. a float-only op on int32). */
export class DTypeError extends ResgradError {}
/** A bad argument value: negative stride, dim out of range, non-integer size, ... */
export class ValueError extends ResgradError {}
/** Misuse of autograd: backward twice through a freed graph, non-scalar without a gradient. */
export class AutogradError extends ResgradError {}
/** Device problems: a kernel or mode that the chosen backend does not have. */
export class DeviceError extends ResgradError {}
/** A number that the target type cannot hold: 3e9 or NaN as int32, an int32 sum past 2^31 - 1. */
export class OverflowError extends ValueError {}
/**
 * A tensor too large to make: more elements than resgrad can index (MAX_NUMEL in core/shape.ts),
 * more bytes than the memory budget (setMemoryBudget in core/allocator.ts), or an allocation the
 * JavaScript engine refused.
 */
export class SizeError extends ValueError {}

/** `[2, 3]` — how shapes are printed in messages. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
