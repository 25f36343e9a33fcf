// Normalisation (BatchNorm / LayerNorm / InstanceNorm / GroupNorm) as gpu.js kernel sources,
// the GPU twin of kernels/cpu/norm.ts: x is read as [N, C, S] and split into statistics sets
// by the layout's axes (the table at the top of kernels/cpu/norm.ts).
//
// Two kinds of kernel:
// - elementwise ones (normalise-scale-shift, the pieces of the backward): thread i owns x's
//   flat element i = (n·C + c)·S + s, finds its channel c and its set k, and reads per-element,
//   per-set and per-channel operands;
// - set sums, done in two levels. A set's m elements can be many (BatchNorm over N·H·W =
//   8·56·56 = 25088), and one float32 accumulator walking them all rounds ~√m·2⁻²⁴ per step of
//   a growing sum, and keeps one thread busy for the whole set. So the sum is cut: every set is
//   viewed as R runs of T consecutive elements (x as [R, K, T], set k = the middle index;
//   BatchNorm: R = N, K = C, T = S; the per-sample norms: R = 1, K = sets, T = m), every run is
//   cut into P pieces of at most PIECE elements, level 1 writes one partial sum per
//   (k, r, piece), and level 2 adds a set's R·P partials. Both loops have literal bounds, so
//   gpu.js's loopMaxIterations guard never cuts them short.
import { type NormLayout, numSets } from '../geometry.js';
import { divModLines, kernelFunction, lit, stridedPositions } from './source.js';

/** Elements one level-1 thread adds up, at most. */
export const PIECE = 256;

/** x viewed as [R, K, T]; a sum per k over (r, t). */
export interface SetSumView {
  readonly R: number;
  readonly K: number;
  readonly T: number;
}

/** Set sums of a norm's statistics sets. */
export function statsView(l: NormLayout): SetSumView {
  if (l.axes === 'batch') return { R: l.N, K: l.C, T: l.S };
  const sets = numSets(l);
  return { R: 1, K: sets, T: (l.N * l.C * l.S) / sets };
}

/** Per-channel sums (γ and β gradients): over n and s of x[N, C, S]. */
export const channelView = (l: NormLayout): SetSumView => ({ R: l.N, K: l.C, T: l.S });

/** Piece length L and pieces per run P for runs of T elements. */
export function pieces(T: number): { L: number; P: number } {
  const L = Math.max(1, Math.min(T, PIECE));
  return { L, P: Math.ceil(T / L) };
}

/**
 * Level 1: part[k, r, p] = Σ_{t in piece p} f(x[r, k, t]) with f(v) = v ('sum') or
 * (v − μ_k)² ('sqdev', the second pass of the variance: no cancellation of large means).
 * Output size K·R·P. Arguments: (xBuf, [meanBuf], xOff, [meanOff]).
 */
export function partialSumSource(v: SetSumView, f: 'sum' | 'sqdev'): string {
  const { R, K, T } = v;
  const { L, P } = pieces(T);
  const ops = [{ pos: 'px', offsetArg: 'xOff', strides: [T, K * T, L] }];
  if (f === 'sqdev') ops.push({ pos: 'pm', offsetArg: 'meanOff', strides: [1, 0, 0] });
  const ragged = P * L !== T; // the last piece is short: guard t < T
  if (ragged) ops.push({ pos: 't0', offsetArg: '0.0', strides: [0, 0, L] });
  const term = f === 'sum' ? 'acc += xBuf[px + j];' : 'const d = xBuf[px + j] - mu;\n      acc += d * d;';
  const lines = [stridedPositions([K, R, P], 'this.thread.x', ops), f === 'sqdev' ? 'const mu = meanBuf[pm];' : '', 'let acc = 0.0;'];
  lines.push(`for (let j = 0.0; j < ${lit(L)}; j++) {`);
  lines.push(ragged ? `    if (t0 + j < ${lit(T)}) {\n      ${term}\n    }` : `    ${term}`);
  lines.push('  }', 'return acc;');
  const args = f === 'sum' ? ['xBuf', 'xOff'] : ['xBuf', 'meanBuf', 'xOff', 'meanOff'];
  return kernelFunction(args, lines.filter(Boolean).join('\n  '));
}

/** Level 2: out[k] = scale · Σ_j part[k·count + j], count = R·P partials per set. Arguments: (partBuf). */
export function setTotalSource(count: number, scale: number): string {
  return kernelFunction(
    ['partBuf'],
    [
      `const base = this.thread.x * ${lit(count)};`,
      'let acc = 0.0;',
      `for (let j = 0.0; j < ${lit(count)}; j++) {`,
      '    acc += partBuf[base + j];',
      '  }',
      `return acc * ${lit(scale)};`,
    ].join('\n  '),
  );
}

/** The longest literal loop in the two levels (for loopMaxIterations). */
export function setSumLoopBound(v: SetSumView): number {
  const { L, P } = pieces(v.T);
  return Math.max(L, v.R * P);
}

/** How an operand of an elementwise norm kernel is indexed: per element, per set k, per channel c. */
export type NormIndex = 'element' | 'set' | 'channel';

/**
 * Statements that give thread i (x's flat element over [N, C, S]) its channel `c` and set `k`:
 *   q = ⌊i/S⌋ = n·C + c,  c = q − ⌊q/C⌋·C,  n = ⌊q/C⌋,
 *   k = c (batch), n (layer), q (instance), n·G + ⌊c/(C/G)⌋ (group).
 */
function channelAndSet(l: NormLayout): string {
  const { C, S } = l;
  const floorDiv = (a: string, b: number) => (b === 1 ? a : `Math.floor((${a} + 0.5) / ${lit(b)})`);
  const lines = [
    ...(S === 1 ? ['const q = this.thread.x;'] : divModLines('q', 'sq', 'this.thread.x', S)), // a flat index: exact past 2^23
    `const n = ${floorDiv('q', C)};`,
    `const c = q - n * ${lit(C)};`,
  ];
  const k = { batch: 'c', layer: 'n', instance: 'q', group: `n * ${lit(l.groups)} + ${floorDiv('c', C / l.groups)}` }[l.axes];
  lines.push(`const k = ${k};`);
  return lines.join('\n  ');
}

/**
 * An elementwise kernel over x[N, C, S]: for every named operand, `name` holds its value at
 * this thread's element, set or channel, and the thread returns `expr`.
 * Arguments: (…nameBuf, …nameOff) in the order of `operands`.
 */
export function normElementwiseSource(l: NormLayout, operands: readonly (readonly [string, NormIndex])[], expr: string): string {
  const at: Record<NormIndex, string> = { element: 'this.thread.x', set: 'k', channel: 'c' };
  const reads = operands.map(([name, idx]) => `const ${name} = ${name}Buf[${name}Off + ${at[idx]}];`);
  const args = [...operands.map(([name]) => `${name}Buf`), ...operands.map(([name]) => `${name}Off`)];
  return kernelFunction(args, [channelAndSet(l), ...reads, `return ${expr};`].join('\n  '));
}

/** r_k = 1/√(σ²_k + ε) as an expression in the operand `var`. */
export const rsqrt = (eps: number): string => `(1.0 / Math.sqrt(variance + ${lit(eps)}))`;
