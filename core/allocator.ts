// Where kernel outputs come from. Every CPU kernel asks this one allocator for its fresh output
// arrays, so a different policy (a recycling pool, arrays inside WebAssembly memory) plugs in
// at one place. The default is the plain one: a new zero-filled typed array, freed by the GC.
import { type DType, type TypedArray, allocArray } from './dtype.js';

export interface Allocator {
  readonly name: string;
  /** An array of `size` elements of `dtype`: zero-filled, unless `zeroed` is false (the caller overwrites every element). */
  alloc(dtype: DType, size: number, zeroed?: boolean): TypedArray;
}

export const heapAllocator: Allocator = { name: 'heap', alloc: (dtype, size) => allocArray(dtype, size) };

let current: Allocator = heapAllocator;

export function setAllocator(a: Allocator): Allocator {
  const prev = current;
  current = a;
  return prev;
}

export function getAllocator(): Allocator {
  return current;
}

/** A kernel output of `size` elements from the current allocator (zeroed unless `zeroed` is false). */
export function allocOutput(dtype: DType, size: number, zeroed = true): TypedArray {
  return current.alloc(dtype, size, zeroed);
}
