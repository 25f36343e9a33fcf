// The peers run the same workload and are checked like our rungs: an in-memory ONNX model
// (our protobuf writer) in onnxruntime, and tfjs's grouped-conv emulation, on tiny inputs.
import { describe, expect, it } from 'vitest';
import { onnxModel } from '../../bench/peers/onnx_proto.js';
import { scaledError } from '../../bench/runner.js';
import { convWorkload } from '../../bench/suites/conv.js';
import { gemmWorkload } from '../../bench/suites/gemm.js';

const PEERS = { backends: new Set(['cpu'] as const), peers: true, quick: true };

describe('bench peers', () => {
  it('onnxModel writes a ModelProto onnxruntime loads: MatMul a=[2,3] b=[3,2]', async () => {
    const ort = await import('onnxruntime-node');
    const bytes = onnxModel({
      nodes: [{ op: 'MatMul', inputs: ['a', 'b'], outputs: ['c'] }],
      inputs: [{ name: 'a', shape: [2, 3] }, { name: 'b', shape: [3, 2] }],
      outputs: [{ name: 'c', shape: [2, 2] }],
    });
    const s = await ort.InferenceSession.create(bytes);
    const a = new Float32Array([1, 2, 3, 4, 5, 6]);
    const b = new Float32Array([1, 0, 0, 1, 1, 1]);
    const out = await s.run({ a: new ort.Tensor('float32', a, [2, 3]), b: new ort.Tensor('float32', b, [3, 2]) });
    // c[i][j] = Σ_k a[i][k] b[k][j], written out from the definition
    const c = [0, 1].flatMap((i) => [0, 1].map((j) => [0, 1, 2].reduce((acc, k) => acc + a[i * 3 + k]! * b[k * 2 + j]!, 0)));
    expect(Array.from(out.c!.data as Float32Array)).toEqual(c);
    await s.release();
  });

  // One call each, checked as the runner checks (nothing is timed here).
  it('gemm 16×16×16 and conv x=[1,8,16,16] w=[8,2,3,3] g=4 on tfjs cpu/wasm and onnxruntime match the reference', async () => {
    const conv = convWorkload({ name: 'g4', x: [1, 8, 16, 16], w: [8, 2, 3, 3], stride: 1, padding: 1, groups: 4 }, PEERS);
    const checked: string[] = [];
    for (const w of [gemmWorkload(16, PEERS), conv]) {
      const exp = w.expected();
      for (const v of w.variants.filter((q) => q.kind === 'peer')) {
        const p = await v.prepare();
        await p.run();
        const err = scaledError(await p.output(), exp);
        await p.dispose?.();
        expect(err, `${w.name} ${v.name}`).toBeLessThan(exp.tol);
        checked.push(v.name);
      }
    }
    expect(checked).toEqual(['tfjs-cpu', 'tfjs-wasm', 'onnxruntime', 'tfjs-cpu', 'tfjs-wasm', 'onnxruntime']);
    expect(conv.variants.find((v) => v.name === 'tfjs-wasm')!.note).toContain('emulated');
  }, 60_000);
});
