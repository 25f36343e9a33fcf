// The WASM runtime: shared memory, arena, the worker pool, and its errors. util_fill / util_copy
// (kernels/wasm/src/util.wat) are the parallel kernels that exercise it.

import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { describeWasm, getNumThreads, getWasm, parseNumThreads, setNumThreads, WasmError, WasmTrapError, type WasmRuntime } from '../../kernels/wasm/runtime.js';
import { nodeSpawner, WorkerPool } from '../../kernels/wasm/threads.js';
import { CONTROL_BYTES } from '../../kernels/wasm/worker_source.js';

function runtime(): WasmRuntime {
  const rt = getWasm();
  if (rt === null) throw new Error(`no wasm runtime in Node: ${describeWasm()}`);
  return rt;
}

/** Runs body between mark() and release() so every test leaves the arena as it found it. */
function scoped<T>(rt: WasmRuntime, body: () => T): T {
  const m = rt.mark();
  try {
    return body();
  } finally {
    rt.release(m);
  }
}

const GUARD = -7.25;
const SIZES = [0, 1, 3, 15, 16, 17, 63, 1001, 4099];

afterEach(() => setNumThreads(2));

describe('wasm runtime: loading', () => {
  it('loads in Node with SIMD and shared memory, and describes itself', () => {
    const rt = runtime();
    expect(rt.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(rt.has('util_fill')).toBe(true);
    expect(rt.has('util_copy')).toBe(true);
    expect(rt.has('util_nothing')).toBe(false);
    setNumThreads(2);
    expect(describeWasm()).toMatch(/^wasm simd128( \+ relaxed fma)?, 2 threads$/);
    setNumThreads(1);
    expect(describeWasm()).toMatch(/^wasm simd128( \+ relaxed fma)?, 1 thread$/);
  });
});

describe('wasm runtime: util_fill and util_copy on 1, 2 and 3 threads', () => {
  for (const nt of [1, 2, 3]) {
    it(`util_fill nt=${nt} sizes ${SIZES.join(',')} at aligned and unaligned offsets; neighbours untouched`, () => {
      const rt = runtime();
      setNumThreads(nt);
      expect(rt.threads).toBe(nt);
      for (const n of SIZES) {
        for (const shift of [0, 1, 3]) {
          scoped(rt, () => {
            const base = rt.alloc((n + 8) * 4);
            const at = base / 4 + 2 + shift; // element index of the filled range
            rt.f32().fill(GUARD, base / 4, base / 4 + n + 8);
            // 1/3 is not a float32: every thread must get the same f32 rounding of the f64 arg
            rt.run('util_fill', [at * 4, n, nt + 1 / 3]);
            const f = rt.f32();
            for (let i = base / 4; i < base / 4 + n + 8; i++) {
              const inside = i >= at && i < at + n;
              if (f[i] !== (inside ? Math.fround(nt + 1 / 3) : GUARD)) throw new Error(`n=${n} shift=${shift}: element ${i - at} is ${f[i]}`);
            }
          });
        }
      }
    });

    it(`util_copy nt=${nt} odd byte counts; bytes outside the destination untouched`, () => {
      const rt = runtime();
      setNumThreads(nt);
      for (const bytes of [0, 1, 5, 63, 64, 65, 4097, 40001]) {
        scoped(rt, () => {
          const src = rt.alloc(bytes);
          const dst = rt.alloc(bytes + 64);
          const u8 = new Uint8Array(rt.memory.buffer);
          for (let i = 0; i < bytes; i++) u8[src + i] = (i * 7 + 3) & 255;
          u8.fill(0xee, dst, dst + bytes + 64);
          rt.run('util_copy', [dst + 1, src, bytes]);
          expect(u8[dst]).toBe(0xee);
          for (let i = 0; i < bytes; i++) if (u8[dst + 1 + i] !== ((i * 7 + 3) & 255)) throw new Error(`bytes=${bytes}: byte ${i} is ${u8[dst + 1 + i]}`);
          for (let i = dst + 1 + bytes; i < dst + bytes + 64; i++) expect(u8[i]).toBe(0xee);
        });
      }
    });
  }

  it('runSingle runs the whole range on the calling thread', () => {
    const rt = runtime();
    setNumThreads(3);
    scoped(rt, () => {
      const p = rt.alloc(101 * 4);
      rt.runSingle('util_fill', [p, 101, 9]);
      expect(Array.from(rt.f32().subarray(p / 4, p / 4 + 101))).toEqual(new Array(101).fill(9));
    });
  });

  it('setNumThreads(1) then (2) then (3) then (2): each run uses the new count and is right', () => {
    const rt = runtime();
    for (const nt of [1, 2, 3, 2, 1, 3]) {
      setNumThreads(nt);
      expect(getNumThreads()).toBe(nt);
      expect(rt.threads).toBe(nt);
      scoped(rt, () => {
        const p = rt.alloc(77 * 4);
        rt.run('util_fill', [p, 77, nt]);
        expect(rt.f32().subarray(p / 4, p / 4 + 77).every((v) => v === nt)).toBe(true);
      });
    }
  });
});

describe('wasm runtime: arena', () => {
  it('alloc is 64-byte aligned, past the control region, and stacked', () => {
    const rt = runtime();
    scoped(rt, () => {
      const offsets = [1, 3, 64, 65, 0, 7].map((n) => rt.alloc(n));
      for (const o of offsets) expect(o % 64).toBe(0);
      expect(offsets[0]).toBeGreaterThanOrEqual(CONTROL_BYTES);
      expect(offsets[1]! - offsets[0]!).toBe(64);
      expect(offsets[3]! - offsets[2]!).toBe(64);
      expect(offsets[4]! - offsets[3]!).toBe(128);
      expect(offsets[5]).toBe(offsets[4]); // a zero-byte block takes no room
    });
  });

  it('release(mark) reuses the region; nested marks release innermost first', () => {
    const rt = runtime();
    const outer = rt.mark();
    const a = rt.alloc(1000);
    const inner = rt.mark();
    const b = rt.alloc(500);
    rt.release(inner);
    expect(rt.alloc(500)).toBe(b);
    rt.release(outer);
    expect(rt.alloc(1000)).toBe(a);
    rt.release(outer);
    expect(rt.mark()).toBe(outer);
  });

  it('put copies a Float32Array in at an aligned offset', () => {
    const rt = runtime();
    scoped(rt, () => {
      rt.alloc(4);
      const src = Float32Array.from([1.5, -2, 3.25, Number.NaN, 5]);
      const p = rt.put(src);
      expect(p % 64).toBe(0);
      expect(Array.from(rt.f32().subarray(p / 4, p / 4 + 5))).toEqual(Array.from(src));
    });
  });

  it('growth keeps earlier data, refreshes the views, and workers use the new pages', () => {
    const rt = runtime();
    scoped(rt, () => {
      const early = rt.put(Float32Array.from([11, 22, 33]));
      const before = rt.memory.buffer.byteLength;
      const oldView = rt.f32();
      const big = rt.alloc(before); // cannot fit: the memory must grow
      const after = rt.memory.buffer.byteLength;
      expect(after).toBeGreaterThanOrEqual(big + before);
      expect(rt.f32() === oldView).toBe(false); // (not .not.toBe: its failure hint deep-compares the arrays)
      expect(rt.f32().length).toBe(after / 4);
      expect(oldView.length).toBe(before / 4);
      expect(Array.from(rt.f32().subarray(early / 4, early / 4 + 3))).toEqual([11, 22, 33]);
      setNumThreads(3);
      const n = before / 4;
      rt.run('util_fill', [big, n, 4]);
      const f = rt.f32();
      for (const i of [0, 1, n >> 1, n - 17, n - 1]) expect(f[big / 4 + i]).toBe(4);
      expect(rt.i32() === rt.i32()).toBe(true); // cached until the next growth
      expect(rt.i32().length).toBe(after / 4);
    });
  });
});

describe('wasm runtime: traps become errors', () => {
  it('a trap in a worker thread is a WasmTrapError naming fn and thread; the pool keeps working', () => {
    const rt = runtime();
    setNumThreads(2);
    const end = rt.memory.buffer.byteLength;
    // 1024 floats from 2 KiB before the end: thread 0's half fits, thread 1's half is out of bounds
    const run = () => rt.run('util_fill', [end - 2048, 1024, 1]);
    expect(run).toThrow(WasmTrapError);
    try {
      run();
    } catch (e) {
      expect(e).toBeInstanceOf(WasmTrapError);
      const err = e as WasmTrapError;
      expect([err.fn, err.tid, err.nt]).toEqual(['util_fill', 1, 2]);
      expect(err.message).toBe("run('util_fill'): thread 1 of 2 failed: RuntimeError: memory access out of bounds");
    }
    scoped(rt, () => {
      const p = rt.alloc(40);
      rt.run('util_fill', [p, 10, 3]);
      expect(rt.f32()[p / 4 + 9]).toBe(3);
    });
  });

  it('a trap on the calling thread (tid 0) waits for the workers, then throws', () => {
    const rt = runtime();
    setNumThreads(2);
    const end = rt.memory.buffer.byteLength;
    expect(() => rt.run('util_copy', [end + 64, 0, 4096])).toThrow(/^run\('util_copy'\): thread 0 of 2 failed: RuntimeError: memory access out of bounds$/);
    setNumThreads(1);
    expect(() => rt.run('util_copy', [end + 64, 0, 4096])).toThrow(/^run\('util_copy'\): thread 0 of 1 failed: RuntimeError: memory access out of bounds$/);
    expect(() => rt.runSingle('util_fill', [end, 8, 0])).toThrow(WasmTrapError);
  });
});

describe('wasm runtime: a worker that cannot start', () => {
  it('prepare() throws the message of the worker instead of waiting forever', async () => {
    const { Worker } = await import('node:worker_threads');
    const rt = runtime();
    const { wasmModules } = await import('../../kernels/wasm/generated/index.js');
    const util = wasmModules.find((m) => m.name === 'util')!;
    const module = new WebAssembly.Module(Uint8Array.from(atob(util.base64), (c) => c.charCodeAt(0)));
    // a private memory, so this broken pool's control region is not the runtime's
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 16, shared: true });
    const pool = new WorkerPool(memory, [module], ['util_fill', 'util_missing'], nodeSpawner({ Worker } as typeof import('node:worker_threads')), true, 2);
    expect(() => pool.prepare(2)).toThrow(
      new WasmError('worker thread 1 failed to start: Error: export util_missing not found in the modules; setNumThreads(1) runs without workers'),
    );
    expect(rt.has('util_fill')).toBe(true);
  });
});

describe('wasm runtime: bad arguments', () => {
  it('setNumThreads wants an integer from 1 to 256', () => {
    for (const [n, shown] of [
      [0, '0'],
      [1.5, '1.5'],
      [Number.NaN, 'NaN'],
      [257, '257'],
      [-2, '-2'],
    ] as const) {
      expect(() => setNumThreads(n)).toThrow(new WasmError(`setNumThreads: n must be an integer from 1 to 256, got ${shown}`));
    }
    expect(() => setNumThreads('2' as unknown as number)).toThrow('setNumThreads: n must be an integer from 1 to 256, got string 2');
  });

  it('alloc, release and put', () => {
    const rt = runtime();
    expect(() => rt.alloc(-1)).toThrow('alloc: bytes must be a non-negative integer, got -1');
    expect(() => rt.alloc(2.5)).toThrow('alloc: bytes must be a non-negative integer, got 2.5');
    expect(() => rt.alloc(2 ** 33)).toThrow(/^alloc: 8589934592 bytes do not fit/);
    expect(() => rt.release(12)).toThrow('release: mark must be a value returned by mark(), got 12');
    expect(() => rt.put([1, 2] as unknown as Float32Array)).toThrow('put: src must be a Float32Array, got Array');
    const outer = rt.mark();
    rt.alloc(100);
    const inner = rt.mark();
    rt.release(outer);
    expect(() => rt.release(inner)).toThrow(`release: mark ${inner} is above the arena top ${outer}`);
  });

  it('run: unknown function, wrong argument count, non-number argument', () => {
    const rt = runtime();
    expect(() => rt.run('util_fil', [0, 0, 0])).toThrow("run: unknown wasm function 'util_fil'; known: util_fill, util_copy");
    expect(() => rt.run('util_fill', [0, 0])).toThrow("run('util_fill'): expects 3 arguments after (tid, nt), got 2");
    expect(() => rt.runSingle('util_copy', [0, 0, 0, 0])).toThrow("runSingle('util_copy'): expects 3 arguments after (tid, nt), got 4");
    expect(() => rt.run('util_fill', [0, '4' as unknown as number, 0])).toThrow("run('util_fill'): args[1] must be a number, got '4'");
  });
});

describe('wasm runtime: thread count from the environment', () => {
  it('parseNumThreads reads an integer from 1 to 256 and says what it read otherwise', () => {
    expect(parseNumThreads(undefined)).toBeUndefined();
    expect(parseNumThreads('')).toBeUndefined();
    expect(parseNumThreads('  ')).toBeUndefined();
    expect(parseNumThreads('4')).toBe(4);
    expect(parseNumThreads(' 2 ')).toBe(2);
    for (const raw of ['0', 'abc', '2.5', '-1', '300', '1e2']) {
      expect(() => parseNumThreads(raw)).toThrow(`RESGRAD_NUM_THREADS must be an integer from 1 to 256, got '${raw}'`);
    }
  });

  it('the default is RESGRAD_NUM_THREADS when set, else the number of cores', async () => {
    const saved = process.env.RESGRAD_NUM_THREADS;
    try {
      process.env.RESGRAD_NUM_THREADS = '3';
      vi.resetModules();
      const fresh = await import('../../kernels/wasm/runtime.js');
      expect(fresh.getNumThreads()).toBe(3);
      expect(fresh.getWasm()?.threads).toBe(3);

      delete process.env.RESGRAD_NUM_THREADS;
      vi.resetModules();
      expect((await import('../../kernels/wasm/runtime.js')).getNumThreads()).toBe(availableParallelism());

      process.env.RESGRAD_NUM_THREADS = 'four';
      vi.resetModules();
      const bad = await import('../../kernels/wasm/runtime.js');
      expect(() => bad.getNumThreads()).toThrow("RESGRAD_NUM_THREADS must be an integer from 1 to 256, got 'four'");
      bad.setNumThreads(2); // an explicit count wins over the environment
      expect(bad.getNumThreads()).toBe(2);
    } finally {
      if (saved === undefined) delete process.env.RESGRAD_NUM_THREADS;
      else process.env.RESGRAD_NUM_THREADS = saved;
      vi.resetModules();
    }
  });
});

describe('worker start-up in module-only hosts', () => {
  it('node --input-type=module: the workers (which inherit the flag, so have no require) start and run a 2-thread matmul', () => {
    const entry = new URL('../../index.ts', import.meta.url).href;
    const code = `const r = await import(${JSON.stringify(entry)}); r.setNumThreads(2); const a = r.randn([300, 300]); a.matmul(a); process.stdout.write(r.variants.describe());`;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 90_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/2 threads/);
  }, 120_000);
});
