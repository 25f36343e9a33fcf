// How an op reaches a kernel: check that all inputs share one device, hand their views to that
// backend's kernel by name, wrap the fresh outputs as tensors.
import { type DType, isFloat } from '../../core/dtype.js';
import { DeviceError } from '../../core/errors.js';
import type { KernelAttrMap, KernelName } from '../../core/kernel_names.js';
import { Tensor } from '../../core/tensor.js';

export type Scalar = number;
export type TensorLike = Tensor | Scalar;

/** A kernel's attrs argument: optional when every attribute is. */
type AttrsArg<K extends KernelName> = Record<string, never> extends KernelAttrMap[K] ? [attrs?: KernelAttrMap[K]] : [attrs: KernelAttrMap[K]];

/** Run kernel `name` on the backend of `inputs` (all on one device) and wrap the outputs. */
export function runKernel<K extends KernelName>(name: K, inputs: readonly Tensor[], ...[attrs]: AttrsArg<K>): Tensor[] {
  const first = inputs[0] as Tensor;
  const backend = first.backend;
  for (const t of inputs) {
    if (t.backend !== backend) {
      throw new DeviceError(`${name}: expected all tensors to be on the same device, but found at least two devices, ${first.device} and ${t.device}`);
    }
  }
  const outs = backend.run(
    name,
    inputs.map((t) => t.asInput()),
    attrs ?? ({} as KernelAttrMap[K]),
  );
  return outs.map((o) => Tensor.fromBuffer(backend, o.buffer, o.dtype, o.shape));
}

export function run1<K extends KernelName>(name: K, inputs: readonly Tensor[], ...attrs: AttrsArg<K>): Tensor {
  return runKernel(name, inputs, ...attrs)[0] as Tensor;
}

/** A Python-style scalar next to a tensor: a 0-d tensor that does not widen a float tensor's dtype. */
export function scalarLike(v: number, like: Tensor): Tensor {
  const dtype: DType = isFloat(like.dtype) ? like.dtype : Number.isInteger(v) ? 'int32' : 'float32';
  const arr = dtype === 'float64' ? Float64Array.of(v) : dtype === 'float32' ? Float32Array.of(v) : Int32Array.of(v);
  return Tensor.fromArray(arr, [], like.backend);
}

export function toTensor(v: TensorLike, like: Tensor): Tensor {
  return typeof v === 'number' ? scalarLike(v, like) : v;
}

/** A view of `t` with new shape/strides/offset over the same storage (no graph). */
export function makeView(t: Tensor, shape: readonly number[], strides: readonly number[], offset: number): Tensor {
  return new Tensor(t.storage, shape, strides, offset);
}

/** Sum a gradient down to `shape` (the adjoint of broadcasting), then cast to `dtype`. */
export function sumToShape(g: Tensor, shape: readonly number[], dtype: DType): Tensor {
  let out = g;
  const lead = g.ndim - shape.length;
  const dims: number[] = [];
  for (let d = 0; d < g.ndim; d++) {
    if (d < lead || (shape[d - lead] === 1 && g.shape[d] !== 1)) dims.push(d);
  }
  if (dims.length > 0) {
    const r = run1('reduce', [g], { op: 'sum', dims });
    out = new Tensor(r.storage, shape); // keepdim result is contiguous; drop the leading dims
  } else if (lead > 0) {
    out = makeView(g, shape, g.strides.slice(lead), g.offset);
  }
  if (out.dtype !== dtype) out = run1('copy', [out], { dtype });
  return out;
}
