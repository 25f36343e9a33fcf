// Reductions over any set of dims of a strided view. The output has the keepdim shape
// (reduced dims become 1): out[j] = ⊕ over all i that map to j of x[i].

type NumArray = Float32Array | Float64Array | Int32Array;
export type ReduceOp = 'sum' | 'max' | 'min' | 'prod';

const IDENTITY: Record<ReduceOp, number> = { sum: 0, max: -Infinity, min: Infinity, prod: 1 };

/**
 * Reference reduction. Accumulates in a Float64Array (so float32 sums are exact to f64 before
 * the final rounding), then writes `out`, whose length is the product of the kept dims.
 */
export function reduceStrided(
  op: ReduceOp,
  x: NumArray,
  shape: readonly number[],
  strides: readonly number[],
  offset: number,
  reduce: readonly boolean[],
  out: NumArray,
): void {
  const nd = shape.length;
  // Strides into the (keepdim) output; 0 along reduced dims so they all land on one slot.
  const outStrides = new Array<number>(nd).fill(0);
  let s = 1;
  for (let d = nd - 1; d >= 0; d--) {
    if (!reduce[d]) {
      outStrides[d] = s;
      s *= shape[d];
    }
  }
  const acc = new Float64Array(out.length).fill(IDENTITY[op]);
  let total = 1;
  for (const n of shape) total *= n;
  const idx = new Array<number>(nd).fill(0);
  let pin = offset;
  let pout = 0;
  for (let i = 0; i < total; i++) {
    const v = x[pin];
    const cur = acc[pout];
    if (op === 'sum') acc[pout] = cur + v;
    else if (op === 'prod') acc[pout] = cur * v;
    else if (op === 'max') {
      if (v > cur || v !== v) acc[pout] = v; // NaN propagates, as torch
    } else if (v < cur || v !== v) acc[pout] = v;
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]++;
      pin += strides[d];
      pout += outStrides[d];
      if (idx[d] < shape[d]) break;
      pin -= idx[d] * strides[d];
      pout -= idx[d] * outStrides[d];
      idx[d] = 0;
    }
  }
  for (let j = 0; j < out.length; j++) out[j] = acc[j];
}

/**
 * Index of the largest (or smallest) value along `dim` of a contiguous [outer, n, inner]
 * layout; ties give the first index, NaN counts as the largest.
 */
export function argReduce(
  op: 'argmax' | 'argmin',
  x: NumArray,
  outer: number,
  n: number,
  inner: number,
  out: Int32Array,
): void {
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const base = o * n * inner + j;
      let best = x[base];
      let bi = 0;
      for (let k = 1; k < n && best === best; k++) {
        const v = x[base + k * inner];
        if (v !== v || (op === 'argmax' ? v > best : v < best)) {
          best = v;
          bi = k;
        }
      }
      out[o * inner + j] = bi;
    }
  }
}
