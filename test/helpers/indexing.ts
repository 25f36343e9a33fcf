// Naive index arithmetic for the reference side of property tests: obviously right, not fast.

export const prod = (s: readonly number[]): number => s.reduce((p, v) => p * v, 1);

/** Row-major multi-index of flat position i in `shape`. */
export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % (shape[d] as number);
    i = Math.floor(i / (shape[d] as number));
  }
  return idx;
}
