// Scopes: tidy(fn) frees what fn made and did not hand back (tfjs's tidy, in our terms).
// Device-neutral: a backend whose buffers need freeing has an adopt(tensor) method, which
// Tensor.fromBuffer calls for every tensor born on it and which hands the tensor to
// adoptIntoScope: the gpu adopts every tensor; the cpu those whose storage lives in the WASM heap
// (made inside a scope: core/cpu/wasm.ts), the others being ordinary typed arrays the garbage
// collector frees. A backend may also have settle(storage), called for what survives the
// outermost scope: the cpu moves such storage out of the WASM heap (nothing would free it later).
//
// When fn returns, the storage of every tensor born in the scope is released, except
//  - the tensors fn returns (a tensor, or arrays / plain objects of them), with their .grad;
//  - tensors passed to keep() (state that outlives the step, e.g. a new optimizer buffer);
//  - the .grad of every leaf that a graph built in the scope reaches: backward() makes them
//    inside, for parameters that live outside.
// If a returned tensor still has a live graph (backward not yet run), its backward closures hold
// saved tensors we cannot see, so nothing is released: the scope's tensors go to the enclosing
// scope (or, at the top, to the garbage collector). Survivors always move to the enclosing scope.
// In-place updates (optimizer steps, BN running stats) swap new buffers into storages born
// outside the scope, which it does not own, so they survive (but move a model to the gpu outside
// any scope: .to('gpu') makes the new parameter storages inside it).
import { ValueError } from './errors.js';
import { type GradNode, type Storage, Tensor } from './tensor.js';

interface Scope {
  born: Tensor[];
}
const scopes: Scope[] = [];
const keptStorages = new WeakSet<Storage>();

/** How many tidy() scopes are open now (0: none). */
export function scopeDepth(): number {
  return scopes.length;
}

/** Called by a device backend for every tensor born on it (from its adopt()): the innermost open scope owns it. */
export function adoptIntoScope(tensor: Tensor): void {
  scopes[scopes.length - 1]?.born.push(tensor);
}

/**
 * Run `fn` and release every device buffer it created except the tensors it returns (and the
 * exceptions above). `fn` must be synchronous. Scopes nest.
 */
export function tidy<T>(fn: () => T): T {
  const scope: Scope = { born: [] };
  scopes.push(scope);
  let result: T | undefined;
  try {
    result = fn();
    if (typeof (result as { then?: unknown } | null)?.then === 'function') {
      throw new ValueError('tidy: fn returned a Promise; a scope must be synchronous (await outside of tidy)');
    }
    return result;
  } finally {
    scopes.pop();
    endScope(scope, result);
  }
}

/** Another name for tidy. */
export const gpuScope = tidy;

/** Let `t` outlive every scope it was born in (it is then freed by dispose() or the garbage collector). */
export function keep<T extends Tensor>(t: T): T {
  keptStorages.add(t.storage);
  return t;
}

function tensorsIn(value: unknown, out: Tensor[] = [], depth = 0): Tensor[] {
  if (value instanceof Tensor) out.push(value);
  else if (depth < 8 && Array.isArray(value)) for (const v of value) tensorsIn(v, out, depth + 1);
  else if (depth < 8 && value !== null && typeof value === 'object' && [Object.prototype, null].includes(Object.getPrototypeOf(value))) {
    for (const v of Object.values(value)) tensorsIn(v, out, depth + 1);
  }
  return out;
}

function endScope(scope: Scope, result: unknown): void {
  const parent = scopes[scopes.length - 1];
  const survivors = new Set<Storage>();
  for (const t of tensorsIn(result)) {
    survivors.add(t.storage);
    if (t.grad) survivors.add(t.grad.storage);
    if (t.gradFn?.backward) {
      // a live graph: its closures may hold any of these
      if (parent) parent.born.push(...scope.born);
      else for (const b of scope.born) settle(b.storage);
      return;
    }
  }
  const seen = new Set<GradNode>();
  const stack = scope.born.map((t) => t.gradFn).filter((n): n is GradNode => n !== null);
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    if (seen.has(node)) continue;
    seen.add(node);
    for (const x of node.inputs) {
      if (x.gradFn) stack.push(x.gradFn);
      else if (x.grad) survivors.add(x.grad.storage);
    }
  }
  for (const t of scope.born) {
    if (!(survivors.has(t.storage) || keptStorages.has(t.storage))) t.storage.release();
    else if (parent) parent.born.push(t);
    else settle(t.storage);
  }
}

/**
 * A tensor that lives long, such as a module's parameter or buffer: keep() it, and let its backend
 * move its storage to where kernels read it in place (the cpu: a pinned block of the WASM heap,
 * which the garbage collector frees; core/cpu/wasm_heap.ts). Same values, same Storage object.
 */
export function pin<T extends Tensor>(t: T): T {
  keep(t);
  (t.storage.backend as { pin?(s: Storage): void }).pin?.(t.storage);
  return t;
}

/** The outermost scope is over and `s` lives on: let its backend move it where the GC frees it. */
function settle(s: Storage): void {
  (s.backend as { settle?(s: Storage): void }).settle?.(s);
}
