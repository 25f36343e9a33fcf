// gpu.js kernel sources for the rest of a training step: softmax / logSoftmax, argmax /
// argmin, gather and its adjoint, the adjoint of a view (scatterView, slicing's backward) and
// cat. The GPU twins of kernels/cpu/{softmax,reduce,gather,elementwise}.ts.
//
// Everything indexed along one dim sees a contiguous array as [outer, n, inner]. A GPU thread
// cannot scatter (it writes only its own output element), so the two adjoints are written as
// gathers: thread q of the gradient buffer looks up which input elements land on q.
// Loops run over one dim with literal bounds (gpu.js's loopMaxIterations guard never applies);
// a softmax row or an argmax is walked by one thread, fine for class counts and rows up to the
// tens of thousands (no two-level split as the norms have).
import { type StridedOperand, divModLines, kernelFunction, lit, stridedPositions } from './source.js';

/** [outer, n, inner] strides of a contiguous array. */
const onn = (n: number, inner: number): number[] => [n * inner, inner, 1];

/**
 * Row statistics of x[outer, n, inner] for a softmax along n; out[o, i] over [outer, inner]:
 *   'max': m = max_k x[o, k, i] (NaN wins; an all −∞ row gives 0 so that x − m stays −∞, not NaN)
 *   'sum': s = Σ_k exp(x[o, k, i] − m[o, i])
 * Arguments: (xBuf, [maxBuf], xOff).
 */
export function softmaxRowSource(stat: 'max' | 'sum', outer: number, n: number, inner: number): string {
  const ops: StridedOperand[] = [{ pos: 'px', offsetArg: 'xOff', strides: [n * inner, 1] }];
  const lines = [stridedPositions([outer, inner], 'this.thread.x', ops)];
  const read = `xBuf[px + k * ${lit(inner)}]`;
  if (stat === 'max') {
    lines.push(
      'let m = xBuf[px];',
      `for (let k = 1.0; k < ${lit(n)}; k++) {`,
      `    const v = ${read};`,
      '    m = (v > m || v != v) ? v : m;',
      '  }',
      'return m < -3.4e38 ? 0.0 : m;',
    );
    return kernelFunction(['xBuf', 'xOff'], lines.join('\n  '));
  }
  lines.push(
    'const m = maxBuf[this.thread.x];',
    'let s = 0.0;',
    `for (let k = 0.0; k < ${lit(n)}; k++) {`,
    `    s += Math.exp(${read} - m);`,
    '  }',
    'return s;',
  );
  return kernelFunction(['xBuf', 'maxBuf', 'xOff'], lines.join('\n  '));
}

/**
 * softmax from the row statistics: z = x − m; y = exp(z)/s, or z − log s for logSoftmax.
 * Arguments: (xBuf, maxBuf, sumBuf, xOff).
 */
export function softmaxSource(outer: number, n: number, inner: number, log: boolean): string {
  const ops: StridedOperand[] = [
    { pos: 'px', offsetArg: 'xOff', strides: onn(n, inner) },
    { pos: 'row', offsetArg: '0.0', strides: [inner, 0, 1] },
  ];
  const y = log ? 'z - Math.log(sumBuf[row])' : 'Math.exp(z) / sumBuf[row]';
  return kernelFunction(
    ['xBuf', 'maxBuf', 'sumBuf', 'xOff'],
    [stridedPositions([outer, n, inner], 'this.thread.x', ops), 'const z = xBuf[px] - maxBuf[row];', `return ${y};`].join('\n  '),
  );
}

/**
 * argmax / argmin along n: the first index of the extreme value, or of the first NaN.
 * out[o, i] over [outer, inner]. Arguments: (xBuf, xOff).
 */
export function argReduceSource(op: 'argmax' | 'argmin', outer: number, n: number, inner: number): string {
  const better = op === 'argmax' ? 'v > best' : 'v < best';
  return kernelFunction(
    ['xBuf', 'xOff'],
    [
      stridedPositions([outer, inner], 'this.thread.x', [{ pos: 'px', offsetArg: 'xOff', strides: [n * inner, 1] }]),
      'let best = xBuf[px];',
      'let bi = 0.0;',
      `for (let k = 1.0; k < ${lit(n)}; k++) {`,
      `    const v = xBuf[px + k * ${lit(inner)}];`,
      `    if (best == best && (v != v || ${better})) {`,
      '      best = v;',
      '      bi = k;',
      '    }',
      '  }',
      'return bi;',
    ].join('\n  '),
  );
}

/**
 * gather along n: out[o, j, i] = x[o, index[o, j, i], i], over index's [outer, m, inner]; an
 * index outside [0, n) reads 0 (the GPU cannot throw; the CPU kernel does).
 * Arguments: (xBuf, indexBuf, xOff, indexOff).
 */
export function gatherSource(outer: number, n: number, m: number, inner: number): string {
  const ops: StridedOperand[] = [
    { pos: 'px', offsetArg: 'xOff', strides: [n * inner, 0, 1] },
    { pos: 'pi', offsetArg: 'indexOff', strides: onn(m, inner) },
  ];
  return kernelFunction(
    ['xBuf', 'indexBuf', 'xOff', 'indexOff'],
    [
      stridedPositions([outer, m, inner], 'this.thread.x', ops),
      'const k = indexBuf[pi];',
      `return (k >= 0.0 && k < ${lit(n)}) ? xBuf[px + k * ${lit(inner)}] : 0.0;`,
    ].join('\n  '),
  );
}

/**
 * The adjoint of gather, as a gather: gx[o, kx, i] = Σ_{j : index[o, j, i] = kx} g[o, j, i],
 * over gx's [outer, n, inner], summing j in increasing order (as the CPU's scatter does).
 * Arguments: (gBuf, indexBuf, gOff, indexOff).
 */
export function gatherBackwardSource(outer: number, n: number, m: number, inner: number): string {
  const ops: StridedOperand[] = [
    { pos: 'pg', offsetArg: 'gOff', strides: [m * inner, 0, 1] },
    { pos: 'pi', offsetArg: 'indexOff', strides: [m * inner, 0, 1] },
    { pos: 'kx', offsetArg: '0.0', strides: [0, 1, 0] },
  ];
  return kernelFunction(
    ['gBuf', 'indexBuf', 'gOff', 'indexOff'],
    [
      stridedPositions([outer, n, inner], 'this.thread.x', ops),
      'let acc = 0.0;',
      `for (let j = 0.0; j < ${lit(m)}; j++) {`,
      `    const at = j * ${lit(inner)};`,
      '    if (indexBuf[pi + at] == kx) {',
      '      acc += gBuf[pg + at];',
      '    }',
      '  }',
      'return acc;',
    ].join('\n  '),
  );
}

/**
 * Whether a view (shape, strides) of a contiguous array is "nested": with its dims sorted by
 * stride, each stride exceeds the farthest reach of all smaller ones, Σ stride_e·(n_e − 1).
 * Then every position is hit at most once, and greedy division by the strides, largest first,
 * recovers the view index of a position (slices, with or without a step, always are).
 */
export function isNestedView(shape: readonly number[], strides: readonly number[]): boolean {
  const dims = shape.map((_, d) => d).filter((d) => shape[d] > 1);
  dims.sort((a, b) => strides[a] - strides[b]);
  let reach = 0;
  for (const d of dims) {
    const s = strides[d];
    if (s <= reach) return false;
    reach += s * (shape[d] - 1);
  }
  return true;
}

/**
 * scatterView for a nested view: out = zeros; out[offset + Σ i_d·vs_d] += g[i]. Thread q
 * divides r = q − offset by the view strides, largest first; q is in the view when every
 * quotient is in range and nothing is left over. Then it reads g at that index through g's
 * own strides. Arguments: (gBuf, gOff).
 */
export function scatterViewSource(shape: readonly number[], viewStrides: readonly number[], offset: number, gStrides: readonly number[]): string {
  const dims = shape.map((_, d) => d).filter((d) => shape[d] > 1);
  dims.sort((a, b) => viewStrides[b] - viewStrides[a]);
  const lines = [`let r = this.thread.x - ${lit(offset)};`, 'let inView = r >= 0.0 ? 1.0 : 0.0;', 'let pg = gOff;'];
  for (const d of dims) {
    const s = viewStrides[d];
    lines.push(
      ...divModLines(`i${d}`, `r${d}`, 'r', s), // r is a flat index: exact past 2^23
      `inView = i${d} < ${lit(shape[d])} ? inView : 0.0;`,
      `r = r${d};`,
      `pg = pg + i${d} * ${lit(gStrides[d])};`,
    );
  }
  lines.push('return (inView > 0.0 && r == 0.0) ? gBuf[pg] : 0.0;');
  return kernelFunction(['gBuf', 'gOff'], lines.join('\n  '));
}

/**
 * scatterView for any view (overlapping, zero strides): thread q adds every g element whose
 * view position is q, walking all of g. O(|out|·|g|), so only for views that are not nested.
 * Arguments: (gBuf, gOff).
 */
export function scatterViewAnySource(shape: readonly number[], viewStrides: readonly number[], offset: number, gStrides: readonly number[]): string {
  const total = shape.reduce((a, b) => a * b, 1);
  const ops: StridedOperand[] = [
    { pos: 'pv', offsetArg: lit(offset), strides: viewStrides },
    { pos: 'pg', offsetArg: 'gOff', strides: gStrides },
  ];
  return kernelFunction(
    ['gBuf', 'gOff'],
    [
      'let acc = 0.0;',
      `for (let e = 0.0; e < ${lit(total)}; e++) {`,
      `    ${stridedPositions(shape, 'e', ops).split('\n  ').join('\n    ')}`,
      '    if (pv == this.thread.x) {',
      '      acc += gBuf[pg];',
      '    }',
      '  }',
      'return acc;',
    ].join('\n  '),
  );
}

/** One input of a cat launch: its view and where its slab starts along the cat dim. */
export interface CatPart {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly start: number;
}

/**
 * cat along `dim`, for the parts of one launch: thread q (over the output's shape) finds the
 * part whose slab [start, start + n) holds its index along dim and reads it there; with
 * `carry`, positions outside every part come from the previous launch's output (so a cat of
 * many inputs runs as a few launches of a few inputs each), else 0.
 * Arguments: ([prevBuf], x0Buf, …, x0Off, …).
 */
export function catSource(shape: readonly number[], dim: number, parts: readonly CatPart[], carry: boolean): string {
  const ops: StridedOperand[] = [
    { pos: 'pd', offsetArg: '0.0', strides: shape.map((_, d) => (d === dim ? 1 : 0)) },
    ...parts.map((p, j) => ({ pos: `p${j}`, offsetArg: `x${j}Off`, strides: p.strides.map((s, d) => (d === dim ? 0 : s)) })),
  ];
  const lines = [stridedPositions(shape, 'this.thread.x', ops)];
  lines.push(`let v = ${carry ? 'prevBuf[this.thread.x]' : '0.0'};`);
  parts.forEach((p, j) => {
    const end = p.start + p.shape[dim];
    const along = `(pd - ${lit(p.start)}) * ${lit(p.strides[dim])}`;
    lines.push(`if (pd >= ${lit(p.start)} && pd < ${lit(end)}) {`, `    v = x${j}Buf[p${j} + ${along}];`, '  }');
  });
  lines.push('return v;');
  const args = [...(carry ? ['prevBuf'] : []), ...parts.map((_, j) => `x${j}Buf`), ...parts.map((_, j) => `x${j}Off`)];
  return kernelFunction(args, lines.join('\n  '));
}
