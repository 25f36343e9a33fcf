// Indexing kernels on contiguous layouts, seen as [outer, n, inner] around the indexed dim.

type NumArray = Float32Array | Float64Array | Int32Array;

/**
 * gather along dim: out[o, j, i] = x[o, index[o, j, i], i], with x viewed as [outer, n, inner]
 * and index/out as [outer, m, inner]. Throws RangeError for an index outside [0, n).
 */
export function gatherForward(x: NumArray, n: number, index: Int32Array, outer: number, m: number, inner: number, out: NumArray): void {
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < m; j++) {
      for (let i = 0; i < inner; i++) {
        const p = (o * m + j) * inner + i;
        const k = index[p];
        if (k < 0 || k >= n) throw new RangeError(`index ${k} is out of bounds for dimension with size ${n}`);
        out[p] = x[(o * n + k) * inner + i];
      }
    }
  }
}

/** The adjoint of gather: gx = zeros; gx[o, index[o, j, i], i] += g[o, j, i]. */
export function gatherBackward(g: NumArray, index: Int32Array, outer: number, m: number, inner: number, n: number, gx: NumArray): void {
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < m; j++) {
      for (let i = 0; i < inner; i++) {
        const p = (o * m + j) * inner + i;
        const q = (o * n + index[p]) * inner + i;
        gx[q] = gx[q] + g[p];
      }
    }
  }
}
