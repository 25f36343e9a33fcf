// Reverse-mode autograd over a dynamic graph. Each op that sees an input with requiresGrad
// records a GradNode on its output: the inputs and a closure computing their gradients from the
// output's gradient (the chain rule, one op at a time). backward() walks the nodes in reverse
// topological order, summing the gradients of tensors that are used more than once.
import { AutogradError, ShapeError, fmtShape } from '../core/errors.js';
import { shapesEqual } from '../core/shape.js';
import { type GradNode, Tensor } from '../core/tensor.js';

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
 * `backward(g)` returns one gradient (or null) per input, each shaped like that input.
 */
export function record(
  out: Tensor,
  name: string,
  inputs: readonly Tensor[],
  backward: (gradOutput: Tensor) => (Tensor | null)[],
): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.markRequiresGrad({ name, inputs, backward, retained: null, versions: inputs.map((t) => t.storage.version) });
  }
  return out;
}

export interface BackwardOptions {
  /** Keep the graph's closures so backward can run through it again. */
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
    if (i < node.inputs.length) {
      top[1] = i + 1;
      const child = (node.inputs[i] as Tensor).gradFn;
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
 * Backward closures read their inputs' values (matmul's backward multiplies by the other
 * operand), so an in-place write to an input after the forward (optimizer.step() or assign()
 * before backward()) would give silently wrong gradients. Like torch, refuse.
 */
function checkVersions(node: GradNode): void {
  node.inputs.forEach((t, i) => {
    const then = node.versions?.[i];
    if (then !== undefined && t.storage.version !== then) {
      throw new AutogradError(
        `one of the tensors needed for gradient computation has been modified by an in-place operation: input ${i} of '${node.name}' (shape ${fmtShape(t.shape)}) is at version ${t.storage.version}, expected version ${then}. Update tensors in place (optimizer.step(), assign()) only after backward(), or clone() them before.`,
      );
    }
  });
}

/** Backpropagate from `root`: fills .grad of every leaf that requires grad. */
export function backward(root: Tensor, gradOutput?: Tensor, options: BackwardOptions = {}): void {
  if (!root.requiresGrad) {
    throw new AutogradError('element 0 of tensors does not require grad and does not have a gradFn');
  }
  let grad = gradOutput;
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
      checkVersions(node);
      const inputGrads = fn(g);
      if (!options.retainGraph) node.backward = null;
      node.inputs.forEach((input, i) => {
        const raw = inputGrads[i];
        if (!raw || !input.requiresGrad) return;
        const gi = asDtypeOf(raw, input);
        if (!shapesEqual(gi.shape, input.shape)) {
          throw new AutogradError(`internal: '${node.name}' returned a gradient of shape ${fmtShape(gi.shape)} for an input of shape ${fmtShape(input.shape)}`);
        }
        if (input.gradFn) {
          const prev = grads.get(input.gradFn);
          grads.set(input.gradFn, prev ? addGrads(prev, gi) : gi);
        } else {
          accumulateLeaf(input, gi);
        }
      });
    }
  });
}
