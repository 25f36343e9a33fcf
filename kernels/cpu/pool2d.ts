// 2-D pooling on contiguous NCHW data, one [h, w] plane at a time (planes = N·C).
//   max:      y[oy, ox] = max over the window of x; idx = the flat h·W + w position of the max
//   avg:      y[oy, ox] = Σ window x / divisor (window clipped to the padded or real input)
//   adaptive: windows [⌊o·In/Out⌋, ⌈(o+1)·In/Out⌉) along each axis, averaged
// Backward sends each output gradient back to the input positions its window used:
//   max:  dx[idx] += dy;   avg and adaptive: every position of the window += dy / divisor.

import type { AvgPoolOptions, PoolGeometry } from '../geometry.js';
type FloatArray = Float32Array | Float64Array;

/**
 * Max pooling with PyTorch's rules: the window starts at oy·sh − ph and takes kh taps dh apart,
 * skipping those outside the input; a value wins if it is greater than the best so far or NaN,
 * so ties go to the first position in row-major order and NaN propagates. An empty (all −∞)
 * window reports its first valid position.
 */
export function maxPool2dForward(x: FloatArray, y: FloatArray, idx: Int32Array, p: PoolGeometry): void {
  const plane = p.h * p.w;
  for (let q = 0; q < p.planes; q++) {
    const xb = q * plane;
    const yb = q * p.oh * p.ow;
    for (let oy = 0; oy < p.oh; oy++) {
      let y0 = oy * p.sh - p.ph;
      const y1 = Math.min(y0 + (p.kh - 1) * p.dh + 1, p.h);
      while (y0 < 0) y0 += p.dh;
      for (let ox = 0; ox < p.ow; ox++) {
        let x0 = ox * p.sw - p.pw;
        const x1 = Math.min(x0 + (p.kw - 1) * p.dw + 1, p.w);
        while (x0 < 0) x0 += p.dw;
        let best = -Infinity;
        let bi = y0 * p.w + x0;
        for (let iy = y0; iy < y1; iy += p.dh) {
          for (let ix = x0; ix < x1; ix += p.dw) {
            const k = iy * p.w + ix;
            const v = x[xb + k];
            if (v > best || v !== v) {
              best = v;
              bi = k;
            }
          }
        }
        y[yb + oy * p.ow + ox] = best;
        idx[yb + oy * p.ow + ox] = bi;
      }
    }
  }
}

/** dx[plane, idx] += dy: the gradient goes only to the position that won. dx zero-filled. */
export function maxPool2dBackward(dy: FloatArray, idx: Int32Array, dx: FloatArray, p: PoolGeometry): void {
  const plane = p.h * p.w;
  const out = p.oh * p.ow;
  for (let q = 0; q < p.planes; q++) {
    for (let k = 0; k < out; k++) {
      const t = q * plane + idx[q * out + k];
      dx[t] = dx[t] + dy[q * out + k];
    }
  }
}

/**
 * Window (oy, ox) of average pooling as [y0, y1, x0, x1, divisor]: clipped first to the padded
 * input (that size is the divisor when countIncludePad), then to the real input.
 */
function avgWindow(p: PoolGeometry, o: AvgPoolOptions, oy: number, ox: number): [number, number, number, number, number] {
  const py0 = oy * p.sh - p.ph;
  const px0 = ox * p.sw - p.pw;
  const py1 = Math.min(py0 + p.kh, p.h + p.ph);
  const px1 = Math.min(px0 + p.kw, p.w + p.pw);
  const y0 = Math.max(py0, 0);
  const x0 = Math.max(px0, 0);
  const y1 = Math.min(py1, p.h);
  const x1 = Math.min(px1, p.w);
  const div = o.divisorOverride || (o.countIncludePad ? (py1 - py0) * (px1 - px0) : (y1 - y0) * (x1 - x0));
  return [y0, y1, x0, x1, div];
}

/**
 * Average pooling as PyTorch's avg_pool2d: window (oy, ox) is clipped first to the padded
 * input (that size is the divisor when countIncludePad), then to the real input; an empty
 * window gives 0.
 */
export function avgPool2dForward(x: FloatArray, y: FloatArray, p: PoolGeometry, o: AvgPoolOptions): void {
  for (let q = 0; q < p.planes; q++) {
    const xb = q * p.h * p.w;
    for (let oy = 0; oy < p.oh; oy++) {
      for (let ox = 0; ox < p.ow; ox++) {
        const [y0, y1, x0, x1, div] = avgWindow(p, o, oy, ox);
        let s = 0;
        for (let iy = y0; iy < y1; iy++) for (let ix = x0; ix < x1; ix++) s += x[xb + iy * p.w + ix];
        y[(q * p.oh + oy) * p.ow + ox] = y0 < y1 && x0 < x1 ? s / div : 0;
      }
    }
  }
}

/** dx[window] += dy / divisor, with the windows and divisors of the forward. dx zero-filled. */
export function avgPool2dBackward(dy: FloatArray, dx: FloatArray, p: PoolGeometry, o: AvgPoolOptions): void {
  for (let q = 0; q < p.planes; q++) {
    const xb = q * p.h * p.w;
    for (let oy = 0; oy < p.oh; oy++) {
      for (let ox = 0; ox < p.ow; ox++) {
        const [y0, y1, x0, x1, div] = avgWindow(p, o, oy, ox);
        const g = dy[(q * p.oh + oy) * p.ow + ox] / div;
        for (let iy = y0; iy < y1; iy++) {
          for (let ix = x0; ix < x1; ix++) dx[xb + iy * p.w + ix] = dx[xb + iy * p.w + ix] + g;
        }
      }
    }
  }
}

/** Adaptive window along one axis: [⌊o·in/out⌋, ⌈(o+1)·in/out⌉). */
function adaptiveStart(o: number, inSize: number, outSize: number): number {
  return Math.floor((o * inSize) / outSize);
}
function adaptiveEnd(o: number, inSize: number, outSize: number): number {
  return Math.ceil(((o + 1) * inSize) / outSize);
}

export function adaptiveAvgPool2dForward(x: FloatArray, y: FloatArray, planes: number, h: number, w: number, oh: number, ow: number): void {
  for (let q = 0; q < planes; q++) {
    const xb = q * h * w;
    for (let oy = 0; oy < oh; oy++) {
      const y0 = adaptiveStart(oy, h, oh);
      const y1 = adaptiveEnd(oy, h, oh);
      for (let ox = 0; ox < ow; ox++) {
        const x0 = adaptiveStart(ox, w, ow);
        const x1 = adaptiveEnd(ox, w, ow);
        let s = 0;
        for (let iy = y0; iy < y1; iy++) for (let ix = x0; ix < x1; ix++) s += x[xb + iy * w + ix];
        y[(q * oh + oy) * ow + ox] = s / ((y1 - y0) * (x1 - x0));
      }
    }
  }
}

/** dx[window] += dy / |window|. dx zero-filled. */
export function adaptiveAvgPool2dBackward(dy: FloatArray, dx: FloatArray, planes: number, h: number, w: number, oh: number, ow: number): void {
  for (let q = 0; q < planes; q++) {
    const xb = q * h * w;
    for (let oy = 0; oy < oh; oy++) {
      const y0 = adaptiveStart(oy, h, oh);
      const y1 = adaptiveEnd(oy, h, oh);
      for (let ox = 0; ox < ow; ox++) {
        const x0 = adaptiveStart(ox, w, ow);
        const x1 = adaptiveEnd(ox, w, ow);
        const g = dy[(q * oh + oy) * ow + ox] / ((y1 - y0) * (x1 - x0));
        for (let iy = y0; iy < y1; iy++) for (let ix = x0; ix < x1; ix++) dx[xb + iy * w + ix] = dx[xb + iy * w + ix] + g;
      }
    }
  }
}
