// Garbage collection on demand, for tests of what FinalizationRegistry callbacks free (the gpu
// backend's textures, the WASM heap's pinned blocks).
import v8 from 'node:v8';
import vm from 'node:vm';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Collect garbage and let the FinalizationRegistry callbacks run (they run between tasks). */
export async function collect(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 0));
  }
}
