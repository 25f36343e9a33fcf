// 2-D convolution on NCHW data (cross-correlation, as PyTorch), with groups:
//   y[n, o, oy, ox] = b[o] + Σ_{c<Cg} Σ_{i<kh} Σ_{j<kw} x[n, g·Cg + c, oy·sh − pt + i·dh, ox·sw − pl + j·dw] · w[o, c, i, j]
// where g = ⌊o / Og⌋ is o's group (Cg = C/groups input and Og = O/groups output channels per
// group) and reads outside the input are zero (the padding). pt/pl are the top/left padding;
// the bottom/right padding is implied by the output size (it may differ: padding='same').
// The padding's zeros are multiplied like any input, as torch computes a convolution (the
// correlation of the zero-padded input): a weight of ±Inf or NaN makes every output whose tap
// reads padding NaN (0·Inf = NaN), and so does an output gradient of ±Inf or NaN in the weight
// gradient. The input gradient has no padding to meet (only real pixels receive gradient).
//
// Three forward kernels: the direct 7-loop reference, im2col + GEMM (the default), and a
// depthwise kernel (groups = C). Backward, with dY = ∂L/∂y:
//   dW_g = dY_g · cols_gᵀ             (the weight sees the same patches as the forward)
//   dX   = col2im(W_gᵀ · dY_g)        (each patch column sends its gradient back to its pixels)
//   db[o] = Σ_{n, oy, ox} dY[n, o, oy, ox]
// col2im is im2col's adjoint: it adds every column entry into the pixel it was read from.
//
// The reference kernels take either float type. The fast ones take Float64Array only: V8
// specialises a loop on the array types it has seen, and one hot loop fed both Float32Array and
// Float64Array ran ~1.6x slower here. Callers convert float32 with TypedArray.set (native), which
// costs one pass over the input and output, and get float64 accumulation for free.

import type { ConvGeometry } from '../geometry.js';
import { gemmBlocked } from './gemm.js';

type FloatArray = Float32Array | Float64Array;

// ---- reference: the obvious loops --------------------------------------------------------

/** Direct convolution, the formula above read literally. `bias` may be null. */
export function conv2dDirect(x: FloatArray, wt: FloatArray, bias: FloatArray | null, y: FloatArray, p: ConvGeometry): void {
  const cg = p.c / p.groups;
  const og = p.o / p.groups;
  for (let n = 0; n < p.n; n++) {
    for (let o = 0; o < p.o; o++) {
      const c0 = Math.floor(o / og) * cg;
      for (let oy = 0; oy < p.oh; oy++) {
        for (let ox = 0; ox < p.ow; ox++) {
          let s = bias ? bias[o] : 0;
          for (let c = 0; c < cg; c++) {
            for (let i = 0; i < p.kh; i++) {
              const iy = oy * p.sh - p.pt + i * p.dh;
              for (let j = 0; j < p.kw; j++) {
                const ix = ox * p.sw - p.pl + j * p.dw;
                const inside = iy >= 0 && iy < p.h && ix >= 0 && ix < p.w;
                const xv = inside ? x[((n * p.c + c0 + c) * p.h + iy) * p.w + ix] : 0; // the padding
                s += xv * wt[((o * cg + c) * p.kh + i) * p.kw + j];
              }
            }
          }
          y[((n * p.o + o) * p.oh + oy) * p.ow + ox] = s;
        }
      }
    }
  }
}

/**
 * The same loops with every product sent backwards (the chain rule, term by term):
 *   dx[x-index] += dy[y-index] · w[w-index],   dw[w-index] += dy[y-index] · x[x-index].
 * Pass null for the gradient you do not want. dx and dw are accumulated into (zero them first).
 */
export function conv2dBackwardDirect(
  dy: FloatArray,
  x: FloatArray,
  wt: FloatArray,
  dx: FloatArray | null,
  dw: FloatArray | null,
  p: ConvGeometry,
): void {
  const cg = p.c / p.groups;
  const og = p.o / p.groups;
  for (let n = 0; n < p.n; n++) {
    for (let o = 0; o < p.o; o++) {
      const c0 = Math.floor(o / og) * cg;
      for (let oy = 0; oy < p.oh; oy++) {
        for (let ox = 0; ox < p.ow; ox++) {
          const g = dy[((n * p.o + o) * p.oh + oy) * p.ow + ox];
          for (let c = 0; c < cg; c++) {
            for (let i = 0; i < p.kh; i++) {
              const iy = oy * p.sh - p.pt + i * p.dh;
              for (let j = 0; j < p.kw; j++) {
                const ix = ox * p.sw - p.pl + j * p.dw;
                const wi = ((o * cg + c) * p.kh + i) * p.kw + j;
                if (iy < 0 || iy >= p.h || ix < 0 || ix >= p.w) {
                  if (dw) dw[wi] = dw[wi] + g * 0; // the padding: no pixel to send to, but 0·Inf = NaN
                  continue;
                }
                const xi = ((n * p.c + c0 + c) * p.h + iy) * p.w + ix;
                if (dx) dx[xi] = dx[xi] + g * wt[wi];
                if (dw) dw[wi] = dw[wi] + g * x[xi];
              }
            }
          }
        }
      }
    }
  }
}

/** db[o] = Σ_{n, oy, ox} dy[n, o, oy, ox] (shared by every conv kernel). */
export function conv2dBackwardBias(dy: FloatArray, db: FloatArray, p: ConvGeometry): void {
  const plane = p.oh * p.ow;
  for (let o = 0; o < p.o; o++) {
    let s = 0;
    for (let n = 0; n < p.n; n++) {
      const base = (n * p.o + o) * plane;
      for (let k = 0; k < plane; k++) s += dy[base + k];
    }
    db[o] = s;
  }
}

// ---- im2col + GEMM ---------------------------------------------------------------------

/**
 * For kernel tap (i, j): the output columns ox whose input column ox·sw − pl + j·dw lies
 * inside [0, w) form one range [lo, hi); outside it the patch reads padding.
 */
function validRange(start: number, stride: number, size: number, count: number): [number, number] {
  // start + ox·stride >= 0  ⇔  ox >= ceil(−start / stride);  start + ox·stride <= size − 1
  const lo = start >= 0 ? 0 : Math.ceil(-start / stride);
  const hi = size - 1 - start < 0 ? 0 : Math.min(count, Math.floor((size - 1 - start) / stride) + 1);
  return [Math.min(lo, count), Math.max(hi, Math.min(lo, count))];
}

/**
 * im2col for the cg channels starting at x[xOff] (one image, one group):
 *   cols[(c·kh + i)·kw + j, oy·ow + ox] = x[c, oy·sh − pt + i·dh, ox·sw − pl + j·dw]  (0 outside),
 * so the convolution of that group is the matrix product W_g[Og, cg·kh·kw] · cols.
 */
export function im2col(x: Float64Array, xOff: number, cg: number, p: ConvGeometry, cols: Float64Array): void {
  const L = p.oh * p.ow;
  let row = 0;
  for (let c = 0; c < cg; c++) {
    const plane = xOff + c * p.h * p.w;
    for (let i = 0; i < p.kh; i++) {
      for (let j = 0; j < p.kw; j++, row += L) {
        const xs = j * p.dw - p.pl;
        const [lo, hi] = validRange(xs, p.sw, p.w, p.ow);
        for (let oy = 0; oy < p.oh; oy++) {
          const iy = oy * p.sh - p.pt + i * p.dh;
          const dst = row + oy * p.ow;
          if (iy < 0 || iy >= p.h) {
            cols.fill(0, dst, dst + p.ow);
            continue;
          }
          const src = plane + iy * p.w + xs;
          for (let ox = 0; ox < lo; ox++) cols[dst + ox] = 0;
          for (let ox = lo; ox < hi; ox++) cols[dst + ox] = x[src + ox * p.sw];
          for (let ox = hi; ox < p.ow; ox++) cols[dst + ox] = 0;
        }
      }
    }
  }
}

/** col2im, the adjoint of im2col: dx[c, iy, ix] += cols[row, col] for every entry im2col read from (c, iy, ix). */
export function col2im(cols: Float64Array, cg: number, p: ConvGeometry, dx: Float64Array, dxOff: number): void {
  const L = p.oh * p.ow;
  let row = 0;
  for (let c = 0; c < cg; c++) {
    const plane = dxOff + c * p.h * p.w;
    for (let i = 0; i < p.kh; i++) {
      for (let j = 0; j < p.kw; j++, row += L) {
        const xs = j * p.dw - p.pl;
        const [lo, hi] = validRange(xs, p.sw, p.w, p.ow);
        for (let oy = 0; oy < p.oh; oy++) {
          const iy = oy * p.sh - p.pt + i * p.dh;
          if (iy < 0 || iy >= p.h) continue;
          const src = row + oy * p.ow;
          const dst = plane + iy * p.w + xs;
          for (let ox = lo; ox < hi; ox++) dx[dst + ox * p.sw] = dx[dst + ox * p.sw] + cols[src + ox];
        }
      }
    }
  }
}

// One scratch matrix for the columns, grown on demand (float64, so the GEMM packs one type).
let scratch = new Float64Array(0);
function colsScratch(size: number): Float64Array {
  if (scratch.length < size) scratch = new Float64Array(size);
  return scratch;
}

/** A 1×1, stride-1, unpadded conv needs no im2col: each image's [C, H·W] block already is cols. */
function isPointwise(p: ConvGeometry): boolean {
  return p.kh === 1 && p.kw === 1 && p.sh === 1 && p.sw === 1 && p.pt === 0 && p.pl === 0 && p.oh === p.h && p.ow === p.w;
}

/** y = conv(x, w) + b by im2col + one GEMM per image and group. */
export function conv2dIm2col(x: Float64Array, wt: Float64Array, bias: Float64Array | null, y: Float64Array, p: ConvGeometry): void {
  const cg = p.c / p.groups;
  const og = p.o / p.groups;
  const L = p.oh * p.ow;
  const K = cg * p.kh * p.kw;
  const direct = isPointwise(p);
  const cols = direct ? null : colsScratch(K * L);
  for (let n = 0; n < p.n; n++) {
    for (let g = 0; g < p.groups; g++) {
      const xOff = (n * p.c + g * cg) * p.h * p.w;
      if (cols) im2col(x, xOff, cg, p, cols);
      gemmBlocked({
        M: og, N: L, K,
        a: wt, aOffset: g * og * K, aRowStride: K, aColStride: 1,
        b: cols ?? x, bOffset: cols ? 0 : xOff, bRowStride: L, bColStride: 1,
        c: y, cOffset: (n * p.o + g * og) * L, ldc: L,
      });
    }
  }
  if (bias) addBias(y, bias, p);
}

function addBias(y: Float64Array, bias: Float64Array, p: ConvGeometry): void {
  const L = p.oh * p.ow;
  for (let n = 0; n < p.n; n++) {
    for (let o = 0; o < p.o; o++) {
      const b = bias[o];
      const base = (n * p.o + o) * L;
      for (let k = 0; k < L; k++) y[base + k] = y[base + k] + b;
    }
  }
}

/** dx = col2im(W_gᵀ · dY_g) per image and group; dx must be zero-filled. */
export function conv2dBackwardInputIm2col(dy: Float64Array, wt: Float64Array, dx: Float64Array, p: ConvGeometry): void {
  const cg = p.c / p.groups;
  const og = p.o / p.groups;
  const L = p.oh * p.ow;
  const K = cg * p.kh * p.kw;
  const direct = isPointwise(p);
  const cols = direct ? null : colsScratch(K * L);
  for (let n = 0; n < p.n; n++) {
    for (let g = 0; g < p.groups; g++) {
      const xOff = (n * p.c + g * cg) * p.h * p.w;
      // W_gᵀ is read through strides: (W_gᵀ)[k, o] = w[(g·Og + o)·K + k]
      gemmBlocked({
        M: K, N: L, K: og,
        a: wt, aOffset: g * og * K, aRowStride: 1, aColStride: K,
        b: dy, bOffset: (n * p.o + g * og) * L, bRowStride: L, bColStride: 1,
        c: cols ?? dx, cOffset: cols ? 0 : xOff, ldc: L,
      });
      if (cols) col2im(cols, cg, p, dx, xOff);
    }
  }
}

/** dw = Σ_n dY_g · cols_gᵀ per group, accumulated over the batch into dw (zero it first). */
export function conv2dBackwardWeightIm2col(dy: Float64Array, x: Float64Array, dw: Float64Array, p: ConvGeometry): void {
  const cg = p.c / p.groups;
  const og = p.o / p.groups;
  const L = p.oh * p.ow;
  const K = cg * p.kh * p.kw;
  const direct = isPointwise(p);
  const cols = direct ? null : colsScratch(K * L);
  for (let n = 0; n < p.n; n++) {
    for (let g = 0; g < p.groups; g++) {
      const xOff = (n * p.c + g * cg) * p.h * p.w;
      if (cols) im2col(x, xOff, cg, p, cols);
      // colsᵀ through strides: (colsᵀ)[l, k] = cols[k·L + l]
      gemmBlocked({
        M: og, N: K, K: L,
        a: dy, aOffset: (n * p.o + g * og) * L, aRowStride: L, aColStride: 1,
        b: cols ?? x, bOffset: cols ? 0 : xOff, bRowStride: 1, bColStride: L,
        c: dw, cOffset: g * og * K, ldc: K, accumulate: true,
      });
    }
  }
}

// ---- depthwise (groups = C, O = C·m) -----------------------------------------------------
// Each output channel o reads one input channel c = ⌊o / m⌋, so there is no channel sum and no
// GEMM worth forming: the kernel walks the kh·kw taps and, per tap, a contiguous run of output
// columns (bounds hoisted out of the inner loop, as in im2col).

/** Per tap column j: the [lo, hi) range of output columns that read inside the input. */
function tapRanges(p: ConvGeometry): Int32Array {
  const r = new Int32Array(2 * p.kw);
  for (let j = 0; j < p.kw; j++) {
    const [lo, hi] = validRange(j * p.dw - p.pl, p.sw, p.w, p.ow);
    r[2 * j] = lo;
    r[2 * j + 1] = hi;
  }
  return r;
}

export function conv2dDepthwise(x: Float64Array, wt: Float64Array, bias: Float64Array | null, y: Float64Array, p: ConvGeometry): void {
  const m = p.o / p.c;
  const L = p.oh * p.ow;
  const ranges = tapRanges(p);
  for (let n = 0; n < p.n; n++) {
    for (let o = 0; o < p.o; o++) {
      const plane = (n * p.c + Math.floor(o / m)) * p.h * p.w;
      const base = (n * p.o + o) * L;
      y.fill(bias ? bias[o] : 0, base, base + L);
      for (let i = 0; i < p.kh; i++) {
        for (let j = 0; j < p.kw; j++) {
          const wv = wt[(o * p.kh + i) * p.kw + j];
          const lo = ranges[2 * j];
          const hi = ranges[2 * j + 1];
          const xs = j * p.dw - p.pl;
          // taps on the padding add 0·w: nothing for a finite w, NaN for ±Inf or NaN (as torch)
          const padded = Number.isFinite(wv) ? 0 : wv * 0;
          for (let oy = 0; oy < p.oh; oy++) {
            const iy = oy * p.sh - p.pt + i * p.dh;
            const dst = base + oy * p.ow;
            if (iy < 0 || iy >= p.h) {
              if (padded !== 0) y.fill(padded, dst, dst + p.ow);
              continue;
            }
            const src = plane + iy * p.w + xs;
            if (padded !== 0) {
              y.fill(padded, dst, dst + lo);
              y.fill(padded, dst + hi, dst + p.ow);
            }
            for (let ox = lo; ox < hi; ox++) y[dst + ox] = y[dst + ox] + wv * x[src + ox * p.sw];
          }
        }
      }
    }
  }
}

/** Depthwise backward, same walk: dx[c, iy, ix] += w·dy[o, oy, ox] and dw[o, i, j] += dy·x. dx, dw zero-filled. */
export function conv2dDepthwiseBackward(
  dy: Float64Array,
  x: Float64Array,
  wt: Float64Array,
  dx: Float64Array | null,
  dw: Float64Array | null,
  p: ConvGeometry,
): void {
  const m = p.o / p.c;
  const ranges = tapRanges(p);
  for (let n = 0; n < p.n; n++) {
    for (let c = 0; c < p.c; c++) {
      const plane = (n * p.c + c) * p.h * p.w;
      for (let o = c * m; o < (c + 1) * m; o++) {
        const yBase = (n * p.o + o) * p.oh * p.ow;
        for (let i = 0; i < p.kh; i++) {
          for (let j = 0; j < p.kw; j++) {
            const wi = (o * p.kh + i) * p.kw + j;
            const wv = wt[wi];
            const lo = ranges[2 * j];
            const hi = ranges[2 * j + 1];
            const xs = j * p.dw - p.pl;
            let sw = 0;
            for (let oy = 0; oy < p.oh; oy++) {
              const iy = oy * p.sh - p.pt + i * p.dh;
              const gy = yBase + oy * p.ow;
              if (iy < 0 || iy >= p.h) {
                if (dw) for (let ox = 0; ox < p.ow; ox++) sw += dy[gy + ox] * 0; // the padding: 0·Inf = NaN
                continue;
              }
              const src = plane + iy * p.w + xs;
              if (dx) for (let ox = lo; ox < hi; ox++) dx[src + ox * p.sw] = dx[src + ox * p.sw] + wv * dy[gy + ox];
              if (dw) {
                for (let ox = 0; ox < lo; ox++) sw += dy[gy + ox] * 0;
                for (let ox = lo; ox < hi; ox++) sw += dy[gy + ox] * x[src + ox * p.sw];
                for (let ox = hi; ox < p.ow; ox++) sw += dy[gy + ox] * 0;
              }
            }
            if (dw) dw[wi] = dw[wi] + sw;
          }
        }
      }
    }
  }
}
