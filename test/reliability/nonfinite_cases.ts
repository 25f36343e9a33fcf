// Kernel calls for the non-finite tests, each with its dependency rule: which output elements may
// depend on which input elements, worked out from the geometry alone (no kernel is consulted).
// Convolution follows torch's definition, the correlation of the zero-padded input: every tap of
// every output reads the padded input, so a weight (forward) or an output gradient (weight
// gradient) meets the padding's zeros, and 0·Inf = NaN, as torch computes it.
import type { KernelAttrMap } from '../../core/kernel_names.js';
import { type AvgPoolOptions, type ConvGeometry, type NormLayout, type PoolGeometry, setOf } from '../../kernels/geometry.js';
import { type Conv2dOptions, conv2dGeometry } from '../../nn/ops/conv.js';
import { poolOutputSize } from '../../nn/ops/pool.js';
import { type FloatDType, type KernelCase, type Operand, type Planted, dense, masks, positions, sumTol } from './nonfinite_helpers.js';

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const any = (s: Set<number> | undefined): boolean => s !== undefined && s.size > 0;

// ---- matmul ----------------------------------------------------------------------------------

/** a [B, M, K] @ b [B, K, N]; `a` may be given transposed in memory (strides of [B, K, M]). */
export function matmulCase(dtype: FloatDType, B: number, M: number, K: number, N: number, a: Float64Array, b: Float64Array, aTransposed = false): KernelCase<'matmul'> {
  const A: Operand = aTransposed
    ? { values: a, shape: [B, M, K], strides: [M * K, 1, M], offset: 0, dtype }
    : dense(a, [B, M, K], dtype);
  return {
    label: `a=[${B},${M},${K}]${aTransposed ? 'ᵀ' : ''} b=[${B},${K},${N}] ${dtype}`,
    kernel: 'matmul',
    inputs: [A, dense(b, [B, K, N], dtype)],
    attrs: {},
    plantable: [0, 1],
    // C[b, i, j] reads row i of A[b] and column j of B[b]
    taint: (pl) => {
      const [m] = masks([B * M * N]) as [Uint8Array];
      for (const e of pl[0] as Set<number>) {
        const bi = Math.floor(e / (M * K));
        const i = Math.floor(e / K) % M;
        for (let j = 0; j < N; j++) m[(bi * M + i) * N + j] = 1;
      }
      for (const e of pl[1] as Set<number>) {
        const bi = Math.floor(e / (K * N));
        const j = e % N;
        for (let i = 0; i < M; i++) m[(bi * M + i) * N + j] = 1;
      }
      return [m];
    },
    tol: sumTol(dtype),
  };
}

// ---- convolution -----------------------------------------------------------------------------

/** Every (output, weight, input) triple of a convolution; input -1 where the tap reads padding. */
function convTriples(p: ConvGeometry): { y: Int32Array; w: Int32Array; x: Int32Array } {
  const cg = p.c / p.groups;
  const og = p.o / p.groups;
  const count = p.n * p.o * p.oh * p.ow * cg * p.kh * p.kw;
  const y = new Int32Array(count);
  const w = new Int32Array(count);
  const x = new Int32Array(count);
  let t = 0;
  for (let n = 0; n < p.n; n++) {
    for (let o = 0; o < p.o; o++) {
      const c0 = Math.floor(o / og) * cg;
      for (let oy = 0; oy < p.oh; oy++) {
        for (let ox = 0; ox < p.ow; ox++) {
          for (let c = 0; c < cg; c++) {
            for (let i = 0; i < p.kh; i++) {
              for (let j = 0; j < p.kw; j++, t++) {
                const iy = oy * p.sh - p.pt + i * p.dh;
                const ix = ox * p.sw - p.pl + j * p.dw;
                y[t] = ((n * p.o + o) * p.oh + oy) * p.ow + ox;
                w[t] = ((o * cg + c) * p.kh + i) * p.kw + j;
                x[t] = iy < 0 || iy >= p.h || ix < 0 || ix >= p.w ? -1 : ((n * p.c + c0 + c) * p.h + iy) * p.w + ix;
              }
            }
          }
        }
      }
    }
  }
  return { y, w, x };
}

export interface ConvValues {
  x: Float64Array;
  w: Float64Array;
  b: Float64Array | null;
  dy: Float64Array;
}

export function convLabel(xShape: readonly number[], wShape: readonly number[], o: Conv2dOptions, dtype: FloatDType): string {
  const s = (v: unknown): string => (Array.isArray(v) ? `[${v.join(',')}]` : String(v ?? 1));
  return `x=[${xShape.join(',')}] w=[${wShape.join(',')}] s=${s(o.stride)} p=${o.padding === undefined ? 0 : s(o.padding)} d=${s(o.dilation)} g=${o.groups ?? 1} ${dtype}`;
}

/** The four conv kernels (forward, dX, dW, db) of one geometry, on the given values. */
export function convCases(dtype: FloatDType, xShape: number[], wShape: number[], opts: Conv2dOptions, v: ConvValues, rel32?: number): KernelCase[] {
  const geom = conv2dGeometry(xShape, wShape, opts);
  const p = geom;
  const yShape = [p.n, p.o, p.oh, p.ow];
  const tr = convTriples(p);
  const attrs: KernelAttrMap['conv2d'] = { geom };
  const label = convLabel(xShape, wShape, opts, dtype);
  const tol = sumTol(dtype, rel32);
  const X = dense(v.x, xShape, dtype);
  const W = dense(v.w, wShape, dtype);
  const DY = dense(v.dy, yShape, dtype);
  const ySize = numel(yShape);
  const planeOf = (e: number): number => Math.floor(e / (p.oh * p.ow)) % p.o;
  return [
    {
      label, kernel: 'conv2d', attrs, tol, plantable: v.b ? [0, 1, 2] : [0, 1],
      inputs: v.b ? [X, W, dense(v.b, [p.o], dtype)] : [X, W],
      // y reads its window of x (padding is no input), every tap of w (padding included), b[o]
      taint: ([px, pw, pb]) => {
        const [m] = masks([ySize]) as [Uint8Array];
        for (let t = 0; t < tr.y.length; t++) {
          const xi = tr.x[t] as number;
          if (pw?.has(tr.w[t] as number) || (xi >= 0 && px?.has(xi))) m[tr.y[t] as number] = 1;
        }
        if (any(pb)) for (let e = 0; e < ySize; e++) if (pb?.has(planeOf(e))) m[e] = 1;
        return [m];
      },
    },
    {
      label, kernel: 'conv2dBackwardInput', attrs, tol, plantable: [0, 1],
      inputs: [DY, W],
      // dx[x] = Σ dy[y]·w[w] over the triples that read x (padding sends nothing back)
      taint: ([pdy, pw]) => {
        const [m] = masks([numel(xShape)]) as [Uint8Array];
        for (let t = 0; t < tr.y.length; t++) {
          const xi = tr.x[t] as number;
          if (xi >= 0 && (pdy?.has(tr.y[t] as number) || pw?.has(tr.w[t] as number))) m[xi] = 1;
        }
        return [m];
      },
    },
    {
      label, kernel: 'conv2dBackwardWeight', attrs, tol, plantable: [0, 1],
      inputs: [DY, X],
      // dw[w] = Σ dy[y]·x_padded[x]: every dy the tap meets, padding included
      taint: ([pdy, px]) => {
        const [m] = masks([numel(wShape)]) as [Uint8Array];
        for (let t = 0; t < tr.y.length; t++) {
          const xi = tr.x[t] as number;
          if (pdy?.has(tr.y[t] as number) || (xi >= 0 && px?.has(xi))) m[tr.w[t] as number] = 1;
        }
        return [m];
      },
    },
    {
      label, kernel: 'conv2dBackwardBias', attrs, tol, plantable: [0],
      inputs: [DY],
      taint: ([pdy]) => {
        const [m] = masks([p.o]) as [Uint8Array];
        for (const e of pdy as Set<number>) m[planeOf(e)] = 1;
        return [m];
      },
    },
  ];
}

// ---- pooling ---------------------------------------------------------------------------------

export interface PoolOptions {
  k: [number, number];
  s: [number, number];
  p: [number, number];
  d: [number, number];
  ceil: boolean;
}

export function poolGeometry(shape: readonly number[], o: PoolOptions): PoolGeometry {
  const [n, c, h, w] = shape as [number, number, number, number];
  return {
    planes: n * c, h, w,
    oh: poolOutputSize(h, o.k[0], o.s[0], o.p[0], o.d[0], o.ceil),
    ow: poolOutputSize(w, o.k[1], o.s[1], o.p[1], o.d[1], o.ceil),
    kh: o.k[0], kw: o.k[1], sh: o.s[0], sw: o.s[1], ph: o.p[0], pw: o.p[1], dh: o.d[0], dw: o.d[1],
  };
}

/** [input element, output element] pairs of the windows: max (dilated taps inside the input) or avg (clipped box). */
function poolPairs(g: PoolGeometry, kind: 'max' | 'avg'): [number, number][] {
  const pairs: [number, number][] = [];
  for (let q = 0; q < g.planes; q++) {
    for (let oy = 0; oy < g.oh; oy++) {
      for (let ox = 0; ox < g.ow; ox++) {
        const out = (q * g.oh + oy) * g.ow + ox;
        const kh = kind === 'max' ? g.kh : 1;
        const kw = kind === 'max' ? g.kw : 1;
        const hh = kind === 'max' ? 1 : g.kh;
        const ww = kind === 'max' ? 1 : g.kw;
        for (let i = 0; i < kh; i++) {
          for (let j = 0; j < kw; j++) {
            for (let a = 0; a < hh; a++) {
              for (let b = 0; b < ww; b++) {
                const iy = oy * g.sh - g.ph + i * g.dh + a;
                const ix = ox * g.sw - g.pw + j * g.dw + b;
                if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) pairs.push([(q * g.h + iy) * g.w + ix, out]);
              }
            }
          }
        }
      }
    }
  }
  return pairs;
}

function adaptivePairs(planes: number, h: number, w: number, oh: number, ow: number): [number, number][] {
  const pairs: [number, number][] = [];
  for (let q = 0; q < planes; q++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        for (let iy = Math.floor((oy * h) / oh); iy < Math.ceil(((oy + 1) * h) / oh); iy++) {
          for (let ix = Math.floor((ox * w) / ow); ix < Math.ceil(((ox + 1) * w) / ow); ix++) pairs.push([(q * h + iy) * w + ix, (q * oh + oy) * ow + ox]);
        }
      }
    }
  }
  return pairs;
}

const forward = (pairs: [number, number][], size: number) => (pl: Set<number>): Uint8Array => {
  const [m] = masks([size]) as [Uint8Array];
  for (const [i, o] of pairs) if (pl.has(i)) m[o] = 1;
  return m;
};
const backward = (pairs: [number, number][], size: number) => (pl: Set<number>): Uint8Array => {
  const [m] = masks([size]) as [Uint8Array];
  for (const [i, o] of pairs) if (pl.has(o)) m[i] = 1;
  return m;
};

const exact = () => ({ atol: 0, rtol: 0 });

/** maxPool2d and its backward (dy routed by `idx`, the indices of a forward run). */
export function maxPoolCases(dtype: FloatDType, shape: number[], o: PoolOptions, x: Float64Array, dy: Float64Array, idx: Int32Array): KernelCase[] {
  const g = poolGeometry(shape, o);
  const label = `x=[${shape.join(',')}] k=[${o.k}] s=[${o.s}] p=[${o.p}] d=[${o.d}]${o.ceil ? ' ceil' : ''} ${dtype}`;
  const yShape = [shape[0] as number, shape[1] as number, g.oh, g.ow];
  const pairs = poolPairs(g, 'max');
  const ySize = numel(yShape);
  return [
    {
      label, kernel: 'maxPool2d', attrs: { geom: g }, plantable: [0],
      inputs: [dense(x, shape, dtype)],
      taint: ([px]) => [forward(pairs, ySize)(px as Set<number>), forward(pairs, ySize)(px as Set<number>)],
      tol: (k) => (k === 0 ? sumTol(dtype)(k, 0) : exact()),
    },
    {
      label, kernel: 'maxPool2dBackward', attrs: { geom: g, inputShape: shape }, plantable: [0],
      inputs: [dense(dy, yShape, dtype), dense(idx, yShape, 'int32')],
      // dx[plane, idx[o]] += dy[o]
      taint: ([pdy]) => {
        const [m] = masks([numel(shape)]) as [Uint8Array];
        const out = g.oh * g.ow;
        for (const e of pdy as Set<number>) m[Math.floor(e / out) * g.h * g.w + (idx[e] as number)] = 1;
        return [m];
      },
      tol: sumTol(dtype),
    },
  ];
}

export function avgPoolCases(dtype: FloatDType, shape: number[], o: PoolOptions, options: AvgPoolOptions, x: Float64Array, dy: Float64Array): KernelCase[] {
  const g = poolGeometry(shape, o);
  const label = `x=[${shape.join(',')}] k=[${o.k}] s=[${o.s}] p=[${o.p}]${o.ceil ? ' ceil' : ''}${options.countIncludePad ? ' countIncludePad' : ''}${options.divisorOverride ? ` divisor=${options.divisorOverride}` : ''} ${dtype}`;
  const yShape = [shape[0] as number, shape[1] as number, g.oh, g.ow];
  const pairs = poolPairs(g, 'avg');
  return [
    {
      label, kernel: 'avgPool2d', attrs: { geom: g, options }, plantable: [0], tol: sumTol(dtype),
      inputs: [dense(x, shape, dtype)],
      taint: ([px]) => [forward(pairs, numel(yShape))(px as Set<number>)],
    },
    {
      label, kernel: 'avgPool2dBackward', attrs: { geom: g, options, inputShape: shape }, plantable: [0], tol: sumTol(dtype),
      inputs: [dense(dy, yShape, dtype)],
      taint: ([pdy]) => [backward(pairs, numel(shape))(pdy as Set<number>)],
    },
  ];
}

export function adaptivePoolCases(dtype: FloatDType, shape: number[], oh: number, ow: number, x: Float64Array, dy: Float64Array): KernelCase[] {
  const [n, c, h, w] = shape as [number, number, number, number];
  const pairs = adaptivePairs(n * c, h, w, oh, ow);
  const label = `x=[${shape.join(',')}] out=[${oh},${ow}] ${dtype}`;
  return [
    {
      label, kernel: 'adaptiveAvgPool2d', attrs: { oh, ow }, plantable: [0], tol: sumTol(dtype),
      inputs: [dense(x, shape, dtype)],
      taint: ([px]) => [forward(pairs, n * c * oh * ow)(px as Set<number>)],
    },
    {
      label, kernel: 'adaptiveAvgPool2dBackward', attrs: { inputShape: shape }, plantable: [0], tol: sumTol(dtype),
      inputs: [dense(dy, [n, c, oh, ow], dtype)],
      taint: ([pdy]) => [backward(pairs, numel(shape))(pdy as Set<number>)],
    },
  ];
}

// ---- normalisation ---------------------------------------------------------------------------

export interface NormValues {
  x: Float64Array;
  gy: Float64Array;
  weight: Float64Array | null;
  bias: Float64Array | null;
  /** Running statistics for normApply and the eval-mode backward (one per channel, 'batch'). */
  mean: Float64Array;
  variance: Float64Array;
}

/**
 * normForward (the input's own statistics), normApply (given statistics: eval BatchNorm) and
 * normBackward with batchStats true and false, on x viewed as [N, C, S] split by `l.axes`.
 * Statistics inputs of apply and the eval backward are per set of the layout ('batch': per channel).
 */
export function normCases(dtype: FloatDType, l: NormLayout, eps: number, v: NormValues, trainStats: { mean: Float64Array; variance: Float64Array }): KernelCase[] {
  const { N, C, S } = l;
  const sets = v.mean.length;
  const size = N * C * S;
  const hasWeight = v.weight !== null;
  const hasBias = v.bias !== null;
  const label = `${l.axes} N=${N} C=${C} S=${S}${l.axes === 'group' ? ` G=${l.groups}` : ''}${hasWeight ? ' weight' : ''}${hasBias ? ' bias' : ''} ${dtype}`;
  const attrs = { ...l, eps, hasWeight, hasBias };
  const setOfElement = (e: number): number => setOf(l, Math.floor(e / (C * S)), Math.floor(e / S) % C);
  const channelOf = (e: number): number => Math.floor(e / S) % C;
  const X = dense(v.x, [N, C, S], dtype);
  const GY = dense(v.gy, [N, C, S], dtype);
  const affine = [...(hasWeight ? [dense(v.weight as Float64Array, [C], dtype)] : []), ...(hasBias ? [dense(v.bias as Float64Array, [C], dtype)] : [])];
  const tol = sumTol(dtype, 2 ** -12);
  // the sets a planted element of x, gy (per element), mean or var (per set) reaches
  const setsOf = (perElement: (Set<number> | undefined)[], perSet: (Set<number> | undefined)[]): Set<number> => {
    const s = new Set<number>();
    for (const p of perElement) for (const e of p ?? []) s.add(setOfElement(e));
    for (const p of perSet) for (const k of p ?? []) s.add(k);
    return s;
  };
  const bySet = (tainted: Set<number>, channels: Set<number> | undefined): Uint8Array => {
    const [m] = masks([size]) as [Uint8Array];
    for (let e = 0; e < size; e++) if (tainted.has(setOfElement(e)) || channels?.has(channelOf(e))) m[e] = 1;
    return m;
  };
  const setMask = (tainted: Set<number>): Uint8Array => Uint8Array.from({ length: sets }, (_, k) => (tainted.has(k) ? 1 : 0));
  // the channels whose elements share a set with a tainted set
  const channelsOfSets = (tainted: Set<number>): Set<number> => {
    const cs = new Set<number>();
    for (let e = 0; e < size; e++) if (tainted.has(setOfElement(e))) cs.add(channelOf(e));
    return cs;
  };
  const weightIndex = 1;
  const biasIndex = hasWeight ? 2 : 1;
  const fwd: KernelCase<'normForward'> = {
    label, kernel: 'normForward', attrs, tol, plantable: [0, ...affine.map((_, i) => i + 1)],
    inputs: [X, ...affine],
    // y of a set reads all of the set's x (its statistics), γ_c and β_c of its own channel
    taint: (pl) => {
      const s = setsOf([pl[0]], []);
      const ch = new Set<number>([...(hasWeight ? (pl[weightIndex] ?? []) : []), ...(hasBias ? (pl[biasIndex] ?? []) : [])]);
      return [bySet(s, ch), setMask(s), setMask(s)];
    },
  };
  const stats = [dense(v.mean, [sets], dtype), dense(v.variance, [sets], dtype)];
  const apply: KernelCase<'normApply'> = {
    label, kernel: 'normApply', attrs, tol, plantable: [0, 1, 2, ...affine.map((_, i) => i + 3)],
    inputs: [X, ...stats, ...affine],
    // y[e] = (x[e] − μ_k)·r_k·γ_c + β_c: its own x, its set's statistics, its channel's γ, β
    taint: (pl) => {
      const s = setsOf([], [pl[1], pl[2]]);
      const ch = new Set<number>([...(hasWeight ? (pl[weightIndex + 2] ?? []) : []), ...(hasBias ? (pl[biasIndex + 2] ?? []) : [])]);
      const m = bySet(s, ch);
      for (const e of pl[0] ?? []) m[e] = 1;
      return [m];
    },
  };
  const backwardCase = (batchStats: boolean): KernelCase<'normBackward'> => {
    const st = batchStats ? [dense(trainStats.mean, [trainStats.mean.length], dtype), dense(trainStats.variance, [trainStats.variance.length], dtype)] : stats;
    return {
      label: `${label}${batchStats ? ' batch statistics' : ' given statistics'}`,
      kernel: 'normBackward', attrs: { ...attrs, batchStats }, tol, plantable: [0, 1, 2, 3, ...(hasWeight ? [4] : [])],
      // with batch statistics a non-finite γ enters gx through γ·gy and through the set's sums
      // A, B: the reference and the fused form group those terms differently (so does each of
      // torch's kernels), so NaN and ±Inf may trade places inside the sets γ reaches
      looseNonFinite: (pl) => batchStats && (pl[4]?.size ?? 0) > 0,
      inputs: [X, GY, ...st, ...(hasWeight ? [affine[0] as Operand] : [])],
      taint: ([px, pgy, pm, pv, pw]) => {
        const ySets = setsOf([px, pgy], [pm, pv]);
        let gx: Uint8Array;
        if (batchStats) {
          // gx of a set: the set's x, gy and statistics, and γ of every channel in the set (its sums)
          const s = new Set(ySets);
          for (let e = 0; e < size; e++) if (pw?.has(channelOf(e))) s.add(setOfElement(e));
          gx = bySet(s, undefined);
        } else {
          // gx[e] = gy[e]·γ_c·r_k: its own gy, its set's variance, its channel's γ
          gx = bySet(setsOf([], [pv]), pw);
          for (const e of pgy ?? []) gx[e] = 1;
        }
        // gγ_c = Σ gy·x̂ over channel c: gy, x and statistics of the sets channel c meets; gβ_c = Σ gy
        const gw = new Uint8Array(C);
        for (const ch of channelsOfSets(setsOf([px], [pm, pv]))) gw[ch] = 1;
        const gb = new Uint8Array(C);
        for (const e of pgy ?? []) {
          gw[channelOf(e)] = 1;
          gb[channelOf(e)] = 1;
        }
        return [gx, gw, gb];
      },
    };
  };
  return [fwd, apply, backwardCase(true), backwardCase(false)];
}

// ---- elementwise, reductions, softmax -------------------------------------------------------

/** Output element i reads element i of every input (same shape, any strides). */
export const sameElement = (n: number) => (pl: Planted): Uint8Array[] => {
  const [m] = masks([n]) as [Uint8Array];
  for (const p of pl) for (const e of p) m[e] = 1;
  return [m];
};

/**
 * Views: x[:, ::2, 1::2] of a [2, 6, 7] storage copied out; a dense g [2, 3, 3] written through that
 * view into zeros of 84 floats (scatterView, a slice's backward); and cat along dim 1 of a
 * [2, 1, 3] pad, that slice and another pad (the option-A shortcut's shape).
 */
export function viewCases(dtype: FloatDType, v: { storage: Float64Array; g: Float64Array; pad1: Float64Array; pad2: Float64Array }): KernelCase[] {
  const tol = (): { atol: number; rtol: number } => ({ atol: 0, rtol: 0 });
  const shape = [2, 3, 3];
  const strides = [42, 14, 2];
  const slice: Operand = { values: v.storage, shape, strides, offset: 1, dtype };
  // logical index e of a [2, 3, 3] view as (a, b, c)
  const abc = (e: number): [number, number, number] => [Math.floor(e / 9), Math.floor(e / 3) % 3, e % 3];
  const taintScatter = ([pg]: Planted): Uint8Array[] => {
    const [m] = masks([84]) as [Uint8Array];
    for (const e of pg ?? []) {
      const [a, b, c] = abc(e);
      m[1 + 42 * a + 14 * b + 2 * c] = 1;
    }
    return [m];
  };
  // cat [2, 1, 3] ++ [2, 3, 3] ++ [2, 1, 3] along dim 1: output [2, 5, 3], channel offsets 0, 1, 4
  const taintCat = (pl: Planted): Uint8Array[] => {
    const [m] = masks([30]) as [Uint8Array];
    for (const e of pl[0] ?? []) m[15 * Math.floor(e / 3) + (e % 3)] = 1;
    for (const e of pl[1] ?? []) {
      const [a, b, c] = abc(e);
      m[15 * a + 3 * (1 + b) + c] = 1;
    }
    for (const e of pl[2] ?? []) m[15 * Math.floor(e / 3) + 12 + (e % 3)] = 1;
    return [m];
  };
  return [
    { label: `copy x[:, ::2, 1::2] of [2,6,7] ${dtype}`, kernel: 'copy', attrs: {}, inputs: [slice], plantable: [0], taint: sameElement(18), tol },
    {
      label: `scatterView g=[2,3,3] into [84] through [:, ::2, 1::2] ${dtype}`,
      kernel: 'scatterView', attrs: { shape: [84], strides, offset: 1 }, inputs: [dense(v.g, shape, dtype)], plantable: [0], taint: taintScatter, tol,
    },
    {
      label: `cat [2,1,3] ++ x[:, ::2, 1::2] ++ [2,1,3] along dim 1 ${dtype}`,
      kernel: 'cat', attrs: { dim: 1 }, inputs: [dense(v.pad1, [2, 1, 3], dtype), slice, dense(v.pad2, [2, 1, 3], dtype)], plantable: [0, 1, 2], taint: taintCat, tol,
    },
  ];
}

export { positions };
