// softmax / logSoftmax along one dim of a contiguous [outer, n, inner] layout, stabilised by
// subtracting the max: logSoftmax(x)_k = x_k − m − log Σ_j exp(x_j − m), m = max_j x_j.

type FloatArray = Float32Array | Float64Array;

export function softmaxForward(
  x: FloatArray,
  outer: number,
  n: number,
  inner: number,
  out: FloatArray,
  log: boolean,
): void {
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const base = o * n * inner + j;
      let m = -Infinity;
      for (let k = 0; k < n; k++) {
        const v = x[base + k * inner];
        if (v > m || v !== v) m = v;
      }
      if (m === -Infinity) m = 0; // all -inf: keep exp(-inf - 0) = 0 rather than NaN from inf - inf
      let s = 0;
      for (let k = 0; k < n; k++) s += Math.exp(x[base + k * inner] - m);
      const logS = Math.log(s);
      for (let k = 0; k < n; k++) {
        const z = x[base + k * inner] - m;
        out[base + k * inner] = log ? z - logS : Math.exp(z) / s;
      }
    }
  }
}
