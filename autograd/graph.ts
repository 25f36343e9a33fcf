// Reverse-mode autograd over a dynamic graph. Each op that sees an input with requiresGrad
// records a GradNode on its output: the inputs and a closure computing their gradients from the
// output's gradient (the chain rule, one op at a time). backward() walks the nodes in reverse
// topological order, summing the gradients of tensors that are used more than once. A node
// keeps its inputs' nodes as they were when it ran (its edges), and the version of every tensor
// its backward reads, so that in-place writes after the forward cannot misroute or corrupt it.
import { AutogradError, ShapeError, ValueError, fmtShape } from '../core/errors.js';
import { shapesEqual } from '../core/shape.js';
import { type GradNode, type SavedTensor, Tensor } from '../core/tensor.js';
import { captureStack, checkBackwardGrads, checkForwardOutput, checksForward, enterBackwardStep, fmtTensor, isAnomalyEnabled, leaveBackwardStep } from './anomaly.js';

const nothingSaved: readonly SavedTensor[] = Object.freeze([]);

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Run `fn` without recording the graph (torch.no_grad). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Run `fn` with recording forced on or off (torch.set_grad_enabled as a scope). */
export function withGradEnabled<T>(enabled: boolean, fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = enabled;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/**
 * Attach the backward of an op to its output, if any input needs a gradient and grad mode is on.
 * `backward(g)` returns one gradient (or null) per input, each shaped like that input. `saved`
 * lists what backward reads (inputs, the output itself, indices, statistics; nulls are skipped),
 * as torch's saved variables: each is stamped with its storage version, and backward refuses to
 * run once any of them was written in place. Left out, every input counts as read.
 */
export function record(
  out: Tensor,
  name: string,
  inputs: readonly Tensor[],
  backward: (gradOutput: Tensor) => (Tensor | null)[],
  saved?: readonly (Tensor | null)[],
): Tensor {
  return attach(out, name, inputs, backward, saved ?? inputs, false);
}

/**
 * record() for a view op: the output shares the input's storage. The backward reads no values,
 * but a non-leaf input is still stamped: once it is written in place (which re-records its
 * history), this view's history is stale, and using it must fail rather than mislead.
 */
export function recordView(out: Tensor, name: string, input: Tensor, backward: (gradOutput: Tensor) => (Tensor | null)[]): Tensor {
  return attach(out, name, [input], backward, [input.gradFn ? input : null], true);
}

function attach(
  out: Tensor,
  name: string,
  inputs: readonly Tensor[],
  backward: (gradOutput: Tensor) => (Tensor | null)[],
  saved: readonly (Tensor | null)[],
  isView: boolean,
): Tensor {
  if (!isView && checksForward()) checkForwardOutput(out, name, inputs);
  if (!gradEnabled || !inputs.some((t) => t.requiresGrad)) return out;
  const stamps: SavedTensor[] = [];
  for (const t of saved) {
    if (!t) continue;
    const i = inputs.indexOf(t);
    stamps.push({ tensor: t, storage: t.storage, version: t.storage.version, slot: t === out ? -1 : i >= 0 ? i : -2 });
  }
  const next = inputs.map((t) => t.gradFn);
  const stack = isAnomalyEnabled() ? captureStack() : null;
  out.markRequiresGrad({ name, inputs, next, backward, retained: null, saved: stamps, isView, stack });
  return out;
}

export interface BackwardOptions {
  /** Keep the graph's closures so backward can run through it again (torch's retain_graph). */
  retainGraph?: boolean;
}

/** Reverse topological order of the nodes reachable from `root` (outputs before inputs). */
function topoOrder(root: GradNode): GradNode[] {
  const order: GradNode[] = [];
  const visited = new Set<GradNode>();
  // Iterative DFS (deep nets would overflow a recursive one): push children, emit on the way back.
  const stack: [GradNode, number][] = [[root, 0]];
  visited.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as [GradNode, number];
    const [node, i] = top;
    if (i < node.next.length) {
      top[1] = i + 1;
      const child = node.next[i] ?? null;
      if (child && !visited.has(child)) {
        visited.add(child);
        stack.push([child, 0]);
      }
    } else {
      order.push(node);
      stack.pop();
    }
  }
  return order.reverse();
}

/** a + b for two same-shaped gradients, straight through the backend (no graph). */
function addGrads(a: Tensor, b: Tensor): Tensor {
  const [o] = a.backend.run('binary', [a.asInput(), b.asInput()], { op: 'add', dtype: a.dtype });
  return Tensor.fromBuffer(a.backend, o.buffer, o.dtype, o.shape);
}

/** A contiguous copy with its own buffer (converted to `dtype` if given). */
function cloneGrad(t: Tensor, dtype = t.dtype): Tensor {
  const [o] = t.backend.run('copy', [t.asInput()], { dtype });
  return Tensor.fromBuffer(t.backend, o.buffer, o.dtype, o.shape);
}

/** A gradient in the dtype of the tensor it belongs to (torch casts them the same way). */
function asDtypeOf(g: Tensor, like: Tensor): Tensor {
  return g.dtype === like.dtype ? g : cloneGrad(g, like.dtype);
}

function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  // A leaf's .grad gets its own buffer: gradients of different inputs can alias (add's backward
  // hands the same tensor to both sides) and optimizers update in place.
  leaf.grad = leaf.grad ? addGrads(leaf.grad, g) : cloneGrad(g);
}

/**
 * Backward closures read saved tensors (matmul's backward multiplies by the other operand, exp's
 * by its own output), so an in-place write to one of them after the forward (optimizer.step() or
 * assign() before backward()) would give silently wrong gradients. Like torch, refuse.
 */
function checkSaved(node: GradNode): void {
  for (const s of node.saved) {
    const now = s.tensor.storage;
    if (now === s.storage && now.version === s.version) continue;
    const role = s.slot >= 0 ? `input ${s.slot}` : s.slot === -1 ? 'output 0' : 'saved tensor';
    const state = now === s.storage ? `is at version ${now.version}, expected version ${s.version} instead` : 'had its storage replaced (e.g. by module.to())';
    throw new AutogradError(
      `one of the tensors needed for gradient computation has been modified by an in-place operation: ${role} of '${node.name}' ${fmtTensor(s.tensor)} ${state}. ` +
        'Write tensors in place (optimizer.step(), assign()) only after backward(), or clone() them before; autograd.detectAnomaly() shows where the op was called.',
    );
  }
}

const backwardOptionKeys = new Set(['retainGraph']);

/** torch's backward(gradient=None, retain_graph=None): the options may also come first, backward({ retainGraph: true }). */
function parseBackwardArgs(gradOrOptions: unknown, options: unknown): { grad: Tensor | undefined; opts: BackwardOptions } {
  let grad = gradOrOptions;
  let opts = options;
  if (grad !== undefined && grad !== null && !(grad instanceof Tensor) && typeof grad === 'object' && opts === undefined) {
    opts = grad;
    grad = undefined;
  }
  if (grad !== undefined && grad !== null && !(grad instanceof Tensor)) {
    throw new ValueError(`backward: argument 'gradOutput' must be a Tensor (or the options object), but got ${typeof grad}`);
  }
  if (opts !== undefined && (typeof opts !== 'object' || opts === null)) {
    throw new ValueError(`backward: argument 'options' must be an object like { retainGraph: true }, but got ${opts === null ? 'null' : typeof opts}`);
  }
  for (const k of Object.keys(opts ?? {})) {
    if (!backwardOptionKeys.has(k)) {
      const hint = k === 'createGraph' ? ' (higher-order gradients are not supported)' : '';
      throw new ValueError(`backward: unknown option '${k}'${hint}; expected one of: ${[...backwardOptionKeys].join(', ')}`);
    }
  }
  const retain = (opts as BackwardOptions | undefined)?.retainGraph;
  if (retain !== undefined && typeof retain !== 'boolean') {
    throw new ValueError(`backward: option 'retainGraph' must be a boolean, but got ${typeof retain}`);
  }
  return { grad: (grad ?? undefined) as Tensor | undefined, opts: (opts ?? {}) as BackwardOptions };
}

/**
 * Backpropagate from `root`: fills .grad of every leaf that requires grad. Call as
 * backward(root), backward(root, gradOutput), backward(root, gradOutput, options) or
 * backward(root, options).
 */
export function backward(root: Tensor, gradOutput?: Tensor | BackwardOptions, options?: BackwardOptions): void {
  const { grad: given, opts } = parseBackwardArgs(gradOutput, options);
  if (!root.requiresGrad) {
    throw new AutogradError('element 0 of tensors does not require grad and does not have a gradFn');
  }
  let grad = given;
  if (grad === undefined) {
    if (root.numel() !== 1) {
      throw new AutogradError(
        `grad can be implicitly created only for scalar outputs; output has shape ${fmtShape(root.shape)}, so pass gradOutput of that shape`,
      );
    }
    grad = Tensor.fromArray(new (root.dtype === 'float64' ? Float64Array : Float32Array)(1).fill(1), root.shape, root.backend);
  } else if (!shapesEqual(grad.shape, root.shape)) {
    throw new ShapeError(`backward: argument 'gradOutput' has shape ${fmtShape(grad.shape)}, expected ${fmtShape(root.shape)} (the output's shape)`);
  }
  const g0 = asDtypeOf(grad, root);
  noGrad(() => {
    if (!root.gradFn) {
      accumulateLeaf(root, g0);
      return;
    }
    const grads = new Map<GradNode, Tensor>([[root.gradFn, g0]]);
    for (const node of topoOrder(root.gradFn)) {
      const g = grads.get(node);
      if (!g) continue;
      grads.delete(node);
      if (node.retained) accumulateLeaf(node.retained, g);
      const fn = node.backward;
      if (!fn) {
        throw new AutogradError(
          `Trying to backward through the graph a second time (node '${node.name}' was freed by an earlier backward). Pass { retainGraph: true } to the first backward if you need to.`,
        );
      }
      checkSaved(node);
      let inputGrads: (Tensor | null)[];
      enterBackwardStep();
      try {
        inputGrads = fn(g);
      } finally {
        leaveBackwardStep();
      }
      if (isAnomalyEnabled()) checkBackwardGrads(node.name, inputGrads, g, node.stack?.text ?? null);
      if (!opts.retainGraph) {
        node.backward = null;
        node.saved = nothingSaved;
      }
      node.inputs.forEach((input, i) => {
        const raw = inputGrads[i];
        const next = node.next[i] ?? null;
        // a constant, or an input that no longer asks for a gradient
        if (!raw || (next === null && !(input.requiresGrad && input.isLeaf))) return;
        const gi = asDtypeOf(raw, input);
        if (!shapesEqual(gi.shape, input.shape)) {
          throw new AutogradError(`internal: '${node.name}' returned a gradient of shape ${fmtShape(gi.shape)} for an input of shape ${fmtShape(input.shape)}`);
        }
        if (next) {
          const prev = grads.get(next);
          grads.set(next, prev ? addGrads(prev, gi) : gi);
        } else {
          accumulateLeaf(input, gi);
        }
      });
    }
  });
}
