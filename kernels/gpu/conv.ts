// 2-D convolution as gpu.js kernels, the GPU twins of kernels/cpu/conv2d.ts (same geometry,
// same formulas; read the derivations there):
//   y[n, o, oy, ox] = b[o] + Σ_{c<Cg, i<kh, j<kw} x[n, g·Cg + c, oy·sh − pt + i·dh, ox·sw − pl + j·dw] · w[o, c, i, j]
//   dx[n, g·Cg + c, iy, ix] = Σ_{o' < Og, i, j : iy = oy·sh − pt + i·dh, ix = ox·sw − pl + j·dw} dy[n, g·Og + o', oy, ox] · w[g·Og + o', c, i, j]
//   dw[o, c, i, j] = Σ_{n, oy, ox} dy[n, o, oy, ox] · x[n, g·Cg + c, oy·sh − pt + i·dh, ox·sw − pl + j·dw]
//   db[o] = Σ_{n, oy, ox} dy[n, o, oy, ox]
// with g = o's (or c's) group, Cg = C/groups, Og = O/groups, and reads outside x being zero.
//
// Why direct (one thread per output element) and not im2col + GEMM: a WebGL1 fragment shader
// has no shared memory, so a GPU GEMM here is itself one thread per output doing a K-long dot
// product (kernels/gpu/gemm.ts). Direct convolution is that same dot product (K = Cg·kh·kw)
// reading the patch straight out of x, so im2col would only add a pass and a
// Cg·kh·kw × N·oh·ow buffer — 147 × 8·112·112 ≈ 14.7M floats for a ResNet stem at batch 8,
// next to the backend's 2^24-element limit. Groups and depthwise (groups = C, any multiplier)
// are the same kernel with Cg = 1: no separate depthwise path is needed.
//
// Each of the four thread functions gathers: dx cannot scatter into pixels, so thread (n, c,
// iy, ix) walks every (o', i, j) and keeps the taps whose output position oy = (iy + pt − i·dh)/sh
// is a whole number inside [0, oh) (with stride 1 every tap in range counts). Every loop bound
// is a literal (source.ts: gpu.js stops non-constant loops at loopMaxIterations), operands are
// read through literal strides plus a runtime storage offset, and index math is float32 with
// the ⌊(r + 0.5)/n⌋ quotient.
import type { ConvGeometry } from '../geometry.js';
import { divModLines, kernelFunction, lit } from './source.js';

/** Strides of one NCHW / OIHW operand (any view; the ops pass contiguous ones). */
export type Strides4 = readonly [number, number, number, number];

/**
 * Statements declaring `names[d]` = the index along dim d of the row-major flat index `flat`
 * over `shape` (last dim fastest), exact up to 2^24 (divModLines).
 */
export function splitIndex(flat: string, shape: readonly number[], names: readonly string[]): string {
  const lines: string[] = [];
  let rest = flat;
  for (let d = shape.length - 1; d > 0; d--) {
    lines.push(...divModLines(`r${d}`, names[d], rest, shape[d]));
    rest = `r${d}`;
  }
  lines.push(`const ${names[0]} = ${rest};`);
  return lines.join('\n  ');
}

/** `base + Σ idx_d · strides_d` as an expression (terms with stride 0 dropped). */
export function offsetExpr(base: string, idx: readonly string[], strides: readonly number[]): string {
  const terms = [base];
  idx.forEach((v, d) => {
    const s = strides[d];
    if (s !== 0) terms.push(s === 1 ? v : `${v} * ${lit(s)}`);
  });
  return terms.join(' + ');
}

/** A literal-bounded loop around `body` (an array of lines); a bound of 1 just binds v = 0. */
export function loop(v: string, n: number, body: readonly string[]): string[] {
  if (n === 1) return [`const ${v} = 0.0;`, ...body];
  return [`for (let ${v} = 0; ${v} < ${n}; ${v}++) {`, ...body.map((l) => `  ${l}`), '}'];
}

/** `if (cond) { body }`, or the body alone when there is nothing to test. */
export function when(cond: string, body: readonly string[]): string[] {
  if (cond === '') return [...body];
  return [`if (${cond}) {`, ...body.map((l) => `  ${l}`), '}'];
}

/** `0 ≤ v < n` for a float index v. */
export const inRange = (v: string, n: number): string => `${v} >= 0.0 && ${v} < ${lit(n)}`;

/** Largest literal loop bound of any conv kernel for geometry p (for loopMaxIterations). */
export function convLoopBound(p: ConvGeometry): number {
  return Math.max(p.c / p.groups, p.o / p.groups, p.kh, p.kw, p.n, p.oh, p.ow);
}

/**
 * Forward: thread = y's flat index over [N, O, oh, ow]. Args (xBuf, wBuf[, bBuf], xOff, wOff[, bOff]).
 * With `relu` the result is max(acc, 0) (NaN kept), as the unary relu (elementwise.ts).
 */
export function conv2dSource(p: ConvGeometry, xs: Strides4, ws: Strides4, biasStride: number | null, relu = false): string {
  const cg = p.c / p.groups;
  const og = p.o / p.groups;
  const dot = loop('c', cg, [
    ...loop('i', p.kh, [
      `const iy = iy0 + i * ${lit(p.dh)};`,
      ...when(inRange('iy', p.h), [
        ...loop('j', p.kw, [
          `const ix = ix0 + j * ${lit(p.dw)};`,
          ...when(inRange('ix', p.w), [
            `acc += xBuf[${offsetExpr('xBase', ['c', 'iy', 'ix'], xs.slice(1))}] * wBuf[${offsetExpr('wBase', ['c', 'i', 'j'], ws.slice(1))}];`,
          ]),
        ]),
      ]),
    ]),
  ]);
  const lines = [
    splitIndex('this.thread.x', [p.n, p.o, p.oh, p.ow], ['n', 'o', 'oy', 'ox']),
    `const g = Math.floor((o + 0.5) / ${lit(og)});`,
    `const xBase = ${offsetExpr('xOff', ['n', 'g'], [xs[0], xs[1] * cg])};`,
    `const wBase = ${offsetExpr('wOff', ['o'], [ws[0]])};`,
    `const iy0 = oy * ${lit(p.sh)} - ${lit(p.pt)};`,
    `const ix0 = ox * ${lit(p.sw)} - ${lit(p.pl)};`,
    'let acc = 0.0;',
    ...dot,
    ...(biasStride === null ? [] : [`acc += bBuf[${offsetExpr('bOff', ['o'], [biasStride])}];`]),
    relu ? 'return (acc > 0.0 ? acc : (acc != acc ? acc : 0.0));' : 'return acc;',
  ];
  const args = biasStride === null ? ['xBuf', 'wBuf', 'xOff', 'wOff'] : ['xBuf', 'wBuf', 'bBuf', 'xOff', 'wOff', 'bOff'];
  return kernelFunction(args, lines.join('\n  '));
}

/**
 * The output row (or column) that tap `k` of input position `v` belongs to: `out` = (v + pad −
 * k·d)/s, valid when that is a whole number in [0, outSize). Declares `out`, returns the test.
 */
function tapSource(v: string, k: string, out: string, pad: number, d: number, s: number, outSize: number): [string[], string] {
  const t = `t${out}`;
  const lines = [`const ${t} = ${v} + ${lit(pad)} - ${k} * ${lit(d)};`];
  if (s === 1) {
    lines.push(`const ${out} = ${t};`);
    return [lines, inRange(out, outSize)];
  }
  lines.push(`const ${out} = Math.floor((${t} + 0.5) / ${lit(s)});`);
  return [lines, `${t} >= 0.0 && ${out} * ${lit(s)} == ${t} && ${out} < ${lit(outSize)}`];
}

/** dx: thread = dx's flat index over [N, C, h, w]. Args (dyBuf, wBuf, dyOff, wOff). */
export function conv2dBackwardInputSource(p: ConvGeometry, dys: Strides4, ws: Strides4): string {
  const cg = p.c / p.groups;
  const og = p.o / p.groups;
  const [rowLines, rowOk] = tapSource('iy', 'i', 'oy', p.pt, p.dh, p.sh, p.oh);
  const [colLines, colOk] = tapSource('ix', 'j', 'ox', p.pl, p.dw, p.sw, p.ow);
  const body = loop('q', og, [
    ...loop('i', p.kh, [
      ...rowLines,
      ...when(rowOk, [
        ...loop('j', p.kw, [
          ...colLines,
          ...when(colOk, [
            `acc += dyBuf[${offsetExpr('dyBase', ['q', 'oy', 'ox'], dys.slice(1))}] * wBuf[${offsetExpr('wBase', ['q', 'i', 'j'], [ws[0], ws[2], ws[3]])}];`,
          ]),
        ]),
      ]),
    ]),
  ]);
  const lines = [
    splitIndex('this.thread.x', [p.n, p.c, p.h, p.w], ['n', 'c', 'iy', 'ix']),
    `const g = Math.floor((c + 0.5) / ${lit(cg)});`,
    `const cl = c - g * ${lit(cg)};`,
    `const dyBase = ${offsetExpr('dyOff', ['n', 'g'], [dys[0], dys[1] * og])};`,
    `const wBase = ${offsetExpr('wOff', ['g', 'cl'], [ws[0] * og, ws[1]])};`,
    'let acc = 0.0;',
    ...body,
    'return acc;',
  ];
  return kernelFunction(['dyBuf', 'wBuf', 'dyOff', 'wOff'], lines.join('\n  '));
}

/** dw: thread = dw's flat index over [O, Cg, kh, kw]. Args (dyBuf, xBuf, dyOff, xOff). */
export function conv2dBackwardWeightSource(p: ConvGeometry, dys: Strides4, xs: Strides4): string {
  const cg = p.c / p.groups;
  const og = p.o / p.groups;
  const body = loop('n', p.n, [
    ...loop('oy', p.oh, [
      `const iy = oy * ${lit(p.sh)} + iyTap;`,
      ...when(inRange('iy', p.h), [
        ...loop('ox', p.ow, [
          `const ix = ox * ${lit(p.sw)} + ixTap;`,
          ...when(inRange('ix', p.w), [
            `acc += dyBuf[${offsetExpr('dyBase', ['n', 'oy', 'ox'], [dys[0], dys[2], dys[3]])}] * xBuf[${offsetExpr('xBase', ['n', 'iy', 'ix'], [xs[0], xs[2], xs[3]])}];`,
          ]),
        ]),
      ]),
    ]),
  ]);
  const lines = [
    splitIndex('this.thread.x', [p.o, cg, p.kh, p.kw], ['o', 'c', 'i', 'j']),
    `const g = Math.floor((o + 0.5) / ${lit(og)});`,
    `const dyBase = ${offsetExpr('dyOff', ['o'], [dys[1]])};`,
    `const xBase = ${offsetExpr('xOff', ['g', 'c'], [xs[1] * cg, xs[1]])};`,
    `const iyTap = i * ${lit(p.dh)} - ${lit(p.pt)};`,
    `const ixTap = j * ${lit(p.dw)} - ${lit(p.pl)};`,
    'let acc = 0.0;',
    ...body,
    'return acc;',
  ];
  return kernelFunction(['dyBuf', 'xBuf', 'dyOff', 'xOff'], lines.join('\n  '));
}

/** db: thread = o. Args (dyBuf, dyOff). */
export function conv2dBackwardBiasSource(p: ConvGeometry, dys: Strides4): string {
  const body = loop('n', p.n, [...loop('oy', p.oh, [...loop('ox', p.ow, [`acc += dyBuf[${offsetExpr('dyBase', ['n', 'oy', 'ox'], [dys[0], dys[2], dys[3]])}];`])])]);
  const lines = [`const dyBase = ${offsetExpr('dyOff', ['this.thread.x'], [dys[1]])};`, 'let acc = 0.0;', ...body, 'return acc;'];
  return kernelFunction(['dyBuf', 'dyOff'], lines.join('\n  '));
}
