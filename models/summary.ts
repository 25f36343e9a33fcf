// A model summary in the manner of torchinfo: run one forward pass with hooks on every module
// and list, in call order, each module's output shape, parameters and multiply-adds, then the
// totals. MACs are counted for the layers that do the arithmetic (Linear, Conv2d); a container's
// MACs are the sum of what ran inside it. Other layer types can add a counter with
// registerMacCounter.
//   Linear:  MACs = (rows of the output) · in · out    (one dot product of length `in` per output)
//   Conv2d:  MACs = N · O · (C/groups) · kh · kw · Hout · Wout   (nn/conv_arith.ts)
import type { Tensor } from '../core/tensor.js';
import { noGrad } from '../autograd/graph.js';
import { conv2dMacs } from '../nn/conv_arith.js';
import { Linear } from '../nn/layers/basic.js';
import { Conv2d } from '../nn/layers/conv.js';
import { Module } from '../nn/module.js';

/** Multiply-adds of one call of `module` that produced `output` from `inputs`. */
export type MacCounter = (module: Module, inputs: unknown[], output: unknown) => number;

const counters = new Map<abstract new (...args: never[]) => Module, MacCounter>();

/** Count MACs for every module of class `cls` (and its subclasses) with `fn`. */
export function registerMacCounter<M extends Module>(cls: abstract new (...args: never[]) => M, fn: (module: M, inputs: unknown[], output: unknown) => number): void {
  counters.set(cls, fn as MacCounter);
}

function counterFor(m: Module): MacCounter | undefined {
  for (let proto = Object.getPrototypeOf(m); proto && proto !== Module.prototype; proto = Object.getPrototypeOf(proto)) {
    const fn = counters.get(proto.constructor);
    if (fn) return fn;
  }
  return undefined;
}

const isTensorLike = (v: unknown): v is Tensor => typeof v === 'object' && v !== null && 'shape' in v && 'dtype' in v;

registerMacCounter(Linear, (m, _inputs, out) => (isTensorLike(out) ? (out.numel() / m.outFeatures) * m.inFeatures * m.outFeatures : 0));
registerMacCounter(Conv2d, (m, _inputs, out) => {
  if (!isTensorLike(out) || out.ndim !== 4) return 0;
  const [n, , oh, ow] = out.shape as [number, number, number, number];
  return n * conv2dMacs({ inChannels: m.inChannels, outChannels: m.outChannels, kernelSize: m.kernelSize, groups: m.groups }, [oh, ow]);
});

export interface SummaryRow {
  /** Dotted path of the module ('' for the model itself). */
  name: string;
  /** Class name. */
  type: string;
  /** Nesting depth (0 = the model). */
  depth: number;
  /** Output shape (one per tensor when a module returns several). */
  outputShape: number[] | number[][];
  /** Parameters of this module and everything inside it (0 on a repeated call of the same module). */
  params: number;
  /** Multiply-adds of this call, including everything that ran inside it. */
  macs: number;
}

export interface ModelSummary {
  rows: SummaryRow[];
  totalParams: number;
  trainableParams: number;
  /** Multiply-adds of the whole forward pass for the given input batch. */
  totalMacs: number;
  toString(): string;
}

function shapeOf(out: unknown): number[] | number[][] {
  if (isTensorLike(out)) return [...out.shape];
  if (Array.isArray(out)) return out.filter(isTensorLike).map((t) => [...t.shape]);
  return [];
}

/**
 * Summarise `model` on `inputs` (one tensor or a list of forward's arguments). The pass runs in
 * eval mode without autograd, so running statistics and the graph are untouched; each
 * module's training flag is restored afterwards.
 */
export function summary(model: Module, inputs: Tensor | unknown[]): ModelSummary {
  const args = Array.isArray(inputs) ? inputs : [inputs];
  const names = new Map<Module, string>();
  for (const [n, m] of model.namedModules()) names.set(m, n);
  const rows: SummaryRow[] = [];
  const open: { row: SummaryRow; childMacs: number }[] = [];
  const counted = new Set<Module>();
  const handles = [];
  for (const m of names.keys()) {
    handles.push(
      m.registerForwardPreHook((mod) => {
        const name = names.get(mod) as string;
        const first = !counted.has(mod);
        counted.add(mod);
        const row: SummaryRow = { name, type: mod.constructor.name, depth: name === '' ? 0 : name.split('.').length, outputShape: [], params: first ? mod.numParameters() : 0, macs: 0 };
        rows.push(row);
        open.push({ row, childMacs: 0 });
        return undefined;
      }),
      m.registerForwardHook((mod, ins, out) => {
        const frame = open.pop();
        if (!frame) return undefined;
        const own = counterFor(mod)?.(mod, ins, out) ?? 0;
        frame.row.macs = own + frame.childMacs;
        frame.row.outputShape = shapeOf(out);
        const parent = open[open.length - 1];
        if (parent) parent.childMacs += frame.row.macs;
        return undefined;
      }),
    );
  }
  const modes = model.modules().map((m) => [m, m.training] as const);
  try {
    model.eval();
    noGrad(() => (model.forward as (...a: unknown[]) => unknown)(...args));
  } finally {
    for (const h of handles) h.remove();
    for (const [m, t] of modes) m.training = t;
  }
  const root = rows.find((r) => r.depth === 0);
  const result: ModelSummary = {
    rows: rows.filter((r) => r.depth > 0),
    totalParams: model.numParameters(),
    trainableParams: model.numParameters(true),
    totalMacs: root ? root.macs : 0,
    toString: () => formatSummary(result, root?.type ?? model.constructor.name),
  };
  return result;
}

/** 11689512 → "11,689,512". */
const commas = (n: number): string => Math.round(n).toLocaleString('en-US');

function formatSummary(s: ModelSummary, modelType: string): string {
  const table = [['Layer (type)', 'Output Shape', 'Param #', 'Mult-Adds']];
  for (const r of s.rows) {
    const label = `${'  '.repeat(r.depth - 1)}${r.name.split('.').pop()} (${r.type})`;
    table.push([label, JSON.stringify(r.outputShape), r.params ? commas(r.params) : '--', r.macs ? commas(r.macs) : '--']);
  }
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => (row[c] as string).length)));
  const line = (row: string[]) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('   ');
  const rule = '='.repeat(widths.reduce((a, b) => a + b, 0) + 3 * (widths.length - 1));
  return [
    `${modelType} summary`,
    rule,
    line(table[0]),
    rule,
    ...table.slice(1).map(line),
    rule,
    `Total params: ${commas(s.totalParams)}`,
    `Trainable params: ${commas(s.trainableParams)}`,
    `Non-trainable params: ${commas(s.totalParams - s.trainableParams)}`,
    `Total mult-adds: ${commas(s.totalMacs)} (${(s.totalMacs / 1e9).toFixed(3)} G)`,
    rule,
  ].join('\n');
}
