// Hosts without SharedArrayBuffer (a page that is not cross-origin isolated): every module is
// loaded over an unshared memory (its import patched by unshareMemoryImport) and the runtime runs
// on one thread, saying why. Node has SharedArrayBuffer, so the test asks for this runtime directly.
import { describe, expect, it } from 'vitest';
import { wasmModules } from '../../kernels/wasm/generated/index.js';
import { createWasmRuntime, unshareMemoryImport } from '../../kernels/wasm/runtime.js';

const bytesOf = (b64: string) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));

describe('wasm runtime over an unshared memory', () => {
  it('every module validates once its memory import is unshared, and only that byte changes', () => {
    for (const m of wasmModules) {
      const raw = bytesOf(m.base64);
      const patched = unshareMemoryImport(raw);
      const diff = [...raw].flatMap((b, i) => (b === patched[i] ? [] : [i]));
      expect(diff.length, m.name).toBe(1);
      expect([raw[diff[0] as number], patched[diff[0] as number]], m.name).toEqual([3, 1]);
      if (!m.relaxed) expect(WebAssembly.validate(patched), m.name).toBe(true);
      // the patched module really wants an unshared memory: a shared one is refused
      if (!m.relaxed) {
        const mod = new WebAssembly.Module(patched);
        const sharedMem = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
        expect(() => new WebAssembly.Instance(mod, { env: { memory: sharedMem } }), m.name).toThrow();
      }
    }
  });

  it('a module that imports no memory is an error naming it', () => {
    const empty = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);
    expect(() => unshareMemoryImport(empty)).toThrow(/imports no memory/);
  });

  it('the runtime runs kernels on one thread and says it is unshared', () => {
    const rt = createWasmRuntime({ shared: false });
    expect(rt).not.toBeNull();
    if (rt === null) return;
    expect(rt.shared).toBe(false);
    expect(rt.threads).toBe(1);
    expect(rt.memory.buffer).toBeInstanceOf(ArrayBuffer);
    const at = rt.alloc(4 * 37);
    rt.run('util_fill', [at, 37, 2.5]);
    expect([...rt.f32().subarray(at / 4, at / 4 + 37)].every((v) => v === 2.5)).toBe(true);
  });
});
