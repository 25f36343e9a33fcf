// The peer rows of a workload: the same computation on other libraries, when `--peers` is on.
// onnxruntime runs once per thread count of the run; tfjs once, on one thread (tfjs.ts says why).
import { threadList } from '../threads.js';
import type { SuiteContext, Variant, WorkloadSpec } from '../types.js';
import { hasOrtPeer, ortVariant } from './onnx.js';
import { type PeerInputs, tfjsVariant } from './tfjs.js';

export function peerVariants(spec: WorkloadSpec, data: PeerInputs, ctx: SuiteContext): Variant[] {
  const out: Variant[] = [];
  if (spec.op === 'norm' && spec.pass === 'backward') return out; // peers' backward needs their autograd: not comparable
  if (['gemm', 'conv2d', 'pool2d', 'norm'].includes(spec.op)) out.push(tfjsVariant('cpu', spec, data), tfjsVariant('wasm', spec, data));
  if (hasOrtPeer(spec)) for (const t of threadList(ctx)) out.push(ortVariant(spec, data, t));
  return out;
}
