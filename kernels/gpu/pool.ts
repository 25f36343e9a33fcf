// 2-D pooling as gpu.js kernels, the GPU twins of kernels/cpu/pool2d.ts (same windows, same
// tie and NaN rules; read the formulas there). One thread per output element; every loop
// bound is a literal (the window size, or the most windows that can cover one input pixel).
//
// Forward threads walk their window. Backward threads cannot scatter, so each input pixel
// gathers from the windows that cover it: along one axis, window o starts at o·s − p and
// covers [o·s − p, o·s − p + (k−1)·d], so the windows over pixel v are o = ⌊(v + p)/s⌋ − a for
// a = 0 … ⌊(k−1)·d / s⌋ (the last one starting at or before v, then earlier ones), kept when
// o ∈ [0, out) and v really is one of the window's taps. For max pooling "is a tap" is the
// stronger test idx[o] == v (the gradient goes only to the winner); for avg it is
// v < o·s − p + k; for adaptive windows [⌊o·In/Out⌋, ⌈(o+1)·In/Out⌉) the covering o run from
// ⌊v·Out/In⌋ to ⌈(v+1)·Out/In⌉ − 1.
//
// Sizes: planes are split as [N, C] so operands can be any NCHW view (literal strides).
import type { AvgPoolOptions, PoolGeometry } from '../geometry.js';
import { type Strides4, inRange, loop, offsetExpr, splitIndex, when } from './conv.js';
import { kernelFunction, lit } from './source.js';

/** Batch and channels of the pooled tensors (PoolGeometry counts their product, planes). */
export interface Planes {
  readonly n: number;
  readonly c: number;
}

/** Largest literal loop bound of the pooling kernels for p (for loopMaxIterations). */
export function poolLoopBound(p: PoolGeometry): number {
  return Math.max(p.kh, p.kw);
}

/** ⌊a / b⌋ of a non-negative integer-valued float expression a and a positive integer b. */
const fdiv = (a: string, b: number): string => (b === 1 ? `(${a})` : `Math.floor((${a} + 0.5) / ${lit(b)})`);
/** ⌈a / b⌉ under the same conditions. */
const cdiv = (a: string, b: number): string => (b === 1 ? `(${a})` : `Math.floor((${a} + ${lit(b - 0.5)}) / ${lit(b)})`);

/** Thread (n, c, oy, ox) of an [N, C, oh, ow] output, and the window origin of (oy, ox). */
function windowHead(q: Planes, p: PoolGeometry, xs: Strides4): string[] {
  return [
    splitIndex('this.thread.x', [q.n, q.c, p.oh, p.ow], ['n', 'c', 'oy', 'ox']),
    `const xBase = ${offsetExpr('xOff', ['n', 'c'], xs.slice(0, 2))};`,
    `const iy0 = oy * ${lit(p.sh)} - ${lit(p.ph)};`,
    `const ix0 = ox * ${lit(p.sw)} - ${lit(p.pw)};`,
  ];
}

/**
 * Max pooling, first pass: the plane-flat position iy·W + ix of each window's maximum (a value
 * wins if greater than the best so far, or NaN; the first valid tap starts). Args (xBuf, xOff).
 */
export function maxPool2dIndexSource(q: Planes, p: PoolGeometry, xs: Strides4): string {
  const lines = [
    ...windowHead(q, p, xs),
    'let best = 0.0;',
    'let bi = -1.0;',
    ...loop('i', p.kh, [
      `const iy = iy0 + i * ${lit(p.dh)};`,
      ...when(inRange('iy', p.h), [
        ...loop('j', p.kw, [
          `const ix = ix0 + j * ${lit(p.dw)};`,
          ...when(inRange('ix', p.w), [
            `const v = xBuf[${offsetExpr('xBase', ['iy', 'ix'], xs.slice(2))}];`,
            `if (bi < 0.0 || v > best || v != v) {`,
            '  best = v;',
            `  bi = iy * ${lit(p.w)} + ix;`,
            '}',
          ]),
        ]),
      ]),
    ]),
    'return bi;',
  ];
  return kernelFunction(['xBuf', 'xOff'], lines.join('\n  '));
}

/** Max pooling, second pass: y = x at the winning position. Args (xBuf, idxBuf, xOff, idxOff); idx contiguous. */
export function maxPool2dGatherSource(q: Planes, p: PoolGeometry, xs: Strides4): string {
  const lines = [
    splitIndex('this.thread.x', [q.n, q.c, p.oh * p.ow], ['n', 'c', 'k']), // k: the window (unused)
    `const xBase = ${offsetExpr('xOff', ['n', 'c'], xs.slice(0, 2))};`,
    'const at = idxBuf[idxOff + this.thread.x];',
    `const iy = ${fdiv('at', p.w)};`,
    `const ix = at - iy * ${lit(p.w)};`,
    `return xBuf[${offsetExpr('xBase', ['iy', 'ix'], xs.slice(2))}];`,
  ];
  return kernelFunction(['xBuf', 'idxBuf', 'xOff', 'idxOff'], lines.join('\n  '));
}

/** How many windows of size k, dilation d, stride s can cover one pixel: ⌊(k−1)·d / s⌋ + 1. */
const covers = (k: number, d: number, s: number): number => Math.floor(((k - 1) * d) / s) + 1;

/**
 * Thread (n, c, iy, ix) of an [N, C, h, w] input gradient, and the literal-bounded loops over
 * the windows (oy, ox) that may cover it, with `rowBody`/`colBody` inserted at each level.
 */
function coverLoops(p: PoolGeometry, kh: number, kw: number, rowOk: string, colOk: string, rowBody: string[], colBody: string[]): string[] {
  return loop('a', covers(kh, p.dh, p.sh), [
    `const oy = oyLast - a;`,
    ...when(`oy >= 0.0 && oy < ${lit(p.oh)}${rowOk}`, [
      ...rowBody,
      ...loop('b', covers(kw, p.dw, p.sw), [`const ox = oxLast - b;`, ...when(`ox >= 0.0 && ox < ${lit(p.ow)}${colOk}`, colBody)]),
    ]),
  ]);
}

function gradHead(q: Planes, p: PoolGeometry): string[] {
  return [
    splitIndex('this.thread.x', [q.n, q.c, p.h, p.w], ['n', 'c', 'iy', 'ix']),
    `const oyLast = ${fdiv(`iy + ${lit(p.ph)}`, p.sh)};`,
    `const oxLast = ${fdiv(`ix + ${lit(p.pw)}`, p.sw)};`,
  ];
}

/** dx[iy, ix] = Σ dy over the windows whose winner is (iy, ix). Args (dyBuf, idxBuf, dyOff, idxOff). */
export function maxPool2dBackwardSource(q: Planes, p: PoolGeometry, dys: Strides4, idxs: Strides4): string {
  const lines = [
    ...gradHead(q, p),
    `const here = iy * ${lit(p.w)} + ix;`,
    'let acc = 0.0;',
    ...coverLoops(p, p.kh, p.kw, '', '', [], [
      `if (idxBuf[${offsetExpr('idxOff', ['n', 'c', 'oy', 'ox'], idxs)}] == here) {`,
      `  acc += dyBuf[${offsetExpr('dyOff', ['n', 'c', 'oy', 'ox'], dys)}];`,
      '}',
    ]),
    'return acc;',
  ];
  return kernelFunction(['dyBuf', 'idxBuf', 'dyOff', 'idxOff'], lines.join('\n  '));
}

/**
 * Divisor of avg window (oy, ox) along one axis, as PyTorch: [v0, v0 + k) clipped to the
 * padded input gives the padded extent, clipped to the input the real one. Declares
 * `${v}Pad` and `${v}Real` for window origin expression `origin`.
 */
function extent(v: string, origin: string, k: number, size: number, pad: number): string[] {
  return [
    `const ${v}0 = ${origin};`,
    `const ${v}1 = Math.min(${v}0 + ${lit(k)}, ${lit(size + pad)});`,
    `const ${v}Pad = ${v}1 - ${v}0;`,
    `const ${v}Real = Math.min(${v}1, ${lit(size)}) - Math.max(${v}0, 0.0);`,
  ];
}

/** The divisor expression of a window with extents ey (rows) and ex (cols). */
function divisor(o: AvgPoolOptions, ey: string, ex: string): string {
  if (o.divisorOverride) return `(${lit(o.divisorOverride)})`;
  return o.countIncludePad ? `(${ey}Pad * ${ex}Pad)` : `(${ey}Real * ${ex}Real)`;
}

/** y = Σ window x / divisor (0 for an empty window). Args (xBuf, xOff). */
export function avgPool2dSource(q: Planes, p: PoolGeometry, o: AvgPoolOptions, xs: Strides4): string {
  const lines = [
    ...windowHead(q, p, xs),
    ...extent('ey', 'iy0', p.kh, p.h, p.ph),
    ...extent('ex', 'ix0', p.kw, p.w, p.pw),
    'let acc = 0.0;',
    ...loop('i', p.kh, [
      'const iy = iy0 + i;',
      ...when(inRange('iy', p.h), [
        ...loop('j', p.kw, ['const ix = ix0 + j;', ...when(inRange('ix', p.w), [`acc += xBuf[${offsetExpr('xBase', ['iy', 'ix'], xs.slice(2))}];`])]),
      ]),
    ]),
    `return eyReal > 0.0 && exReal > 0.0 ? acc / ${divisor(o, 'ey', 'ex')} : 0.0;`,
  ];
  return kernelFunction(['xBuf', 'xOff'], lines.join('\n  '));
}

/** dx[iy, ix] = Σ over covering windows of dy / divisor. Args (dyBuf, dyOff). */
export function avgPool2dBackwardSource(q: Planes, p: PoolGeometry, o: AvgPoolOptions, dys: Strides4): string {
  const lines = [
    ...gradHead(q, p),
    'let acc = 0.0;',
    ...coverLoops(
      p,
      p.kh,
      p.kw,
      ` && iy < oy * ${lit(p.sh)} + ${lit(p.kh - p.ph)}`,
      ` && ix < ox * ${lit(p.sw)} + ${lit(p.kw - p.pw)}`,
      extent('ey', `oy * ${lit(p.sh)} - ${lit(p.ph)}`, p.kh, p.h, p.ph),
      [...extent('ex', `ox * ${lit(p.sw)} - ${lit(p.pw)}`, p.kw, p.w, p.pw), `acc += dyBuf[${offsetExpr('dyOff', ['n', 'c', 'oy', 'ox'], dys)}] / ${divisor(o, 'ey', 'ex')};`],
    ),
    'return acc;',
  ];
  return kernelFunction(['dyBuf', 'dyOff'], lines.join('\n  '));
}

/** Adaptive window of output o along an axis of `size` in, `out` out: [⌊o·size/out⌋, ⌈(o+1)·size/out⌉). */
const adaptiveStart = (o: string, size: number, out: number): string => fdiv(`${o} * ${lit(size)}`, out);
const adaptiveEnd = (o: string, size: number, out: number): string => cdiv(`(${o} + 1.0) * ${lit(size)}`, out);

/** The widest adaptive window along an axis (a literal loop bound). */
export function adaptiveWindow(size: number, out: number): number {
  let widest = 1;
  for (let o = 0; o < out; o++) widest = Math.max(widest, Math.ceil(((o + 1) * size) / out) - Math.floor((o * size) / out));
  return widest;
}

/** The most adaptive windows covering one pixel along an axis (a literal loop bound). */
export function adaptiveCover(size: number, out: number): number {
  let most = 1;
  for (let v = 0; v < size; v++) most = Math.max(most, Math.ceil(((v + 1) * out) / size) - Math.floor((v * out) / size));
  return most;
}

/** Adaptive geometry: input [N, C, h, w], output [N, C, oh, ow]. */
export interface AdaptiveShape extends Planes {
  readonly h: number;
  readonly w: number;
  readonly oh: number;
  readonly ow: number;
}

/** y = mean of x over the adaptive window. Args (xBuf, xOff). */
export function adaptiveAvgPool2dSource(s: AdaptiveShape, xs: Strides4): string {
  const lines = [
    splitIndex('this.thread.x', [s.n, s.c, s.oh, s.ow], ['n', 'c', 'oy', 'ox']),
    `const xBase = ${offsetExpr('xOff', ['n', 'c'], xs.slice(0, 2))};`,
    `const y0 = ${adaptiveStart('oy', s.h, s.oh)};`,
    `const y1 = ${adaptiveEnd('oy', s.h, s.oh)};`,
    `const x0 = ${adaptiveStart('ox', s.w, s.ow)};`,
    `const x1 = ${adaptiveEnd('ox', s.w, s.ow)};`,
    'let acc = 0.0;',
    ...loop('i', adaptiveWindow(s.h, s.oh), [
      'const iy = y0 + i;',
      ...when('iy < y1', [...loop('j', adaptiveWindow(s.w, s.ow), ['const ix = x0 + j;', ...when('ix < x1', [`acc += xBuf[${offsetExpr('xBase', ['iy', 'ix'], xs.slice(2))}];`])])]),
    ]),
    'return acc / ((y1 - y0) * (x1 - x0));',
  ];
  return kernelFunction(['xBuf', 'xOff'], lines.join('\n  '));
}

/** dx[iy, ix] = Σ over the adaptive windows covering it of dy / |window|. Args (dyBuf, dyOff). */
export function adaptiveAvgPool2dBackwardSource(s: AdaptiveShape, dys: Strides4): string {
  const lines = [
    splitIndex('this.thread.x', [s.n, s.c, s.h, s.w], ['n', 'c', 'iy', 'ix']),
    `const oyLo = ${fdiv(`iy * ${lit(s.oh)}`, s.h)};`,
    `const oyHi = ${cdiv(`(iy + 1.0) * ${lit(s.oh)}`, s.h)};`,
    `const oxLo = ${fdiv(`ix * ${lit(s.ow)}`, s.w)};`,
    `const oxHi = ${cdiv(`(ix + 1.0) * ${lit(s.ow)}`, s.w)};`,
    'let acc = 0.0;',
    ...loop('a', adaptiveCover(s.h, s.oh), [
      'const oy = oyLo + a;',
      ...when('oy < oyHi', [
        `const hy = ${adaptiveEnd('oy', s.h, s.oh)} - ${adaptiveStart('oy', s.h, s.oh)};`,
        ...loop('b', adaptiveCover(s.w, s.ow), [
          'const ox = oxLo + b;',
          ...when('ox < oxHi', [
            `const hx = ${adaptiveEnd('ox', s.w, s.ow)} - ${adaptiveStart('ox', s.w, s.ow)};`,
            `acc += dyBuf[${offsetExpr('dyOff', ['n', 'c', 'oy', 'ox'], dys)}] / (hy * hx);`,
          ]),
        ]),
      ]),
    ]),
    'return acc;',
  ];
  return kernelFunction(['dyBuf', 'dyOff'], lines.join('\n  '));
}

/** Largest literal loop bound of the adaptive kernels (for loopMaxIterations). */
export function adaptiveLoopBound(s: AdaptiveShape): number {
  return Math.max(adaptiveWindow(s.h, s.oh), adaptiveWindow(s.w, s.ow), adaptiveCover(s.h, s.oh), adaptiveCover(s.w, s.ow));
}
