// The lab's Web Worker: the engine runs here, so the page stays responsive and, when the page is
// cross-origin isolated, the WASM kernels can block on their thread pool (a page's main thread
// may not). It trains (posting every step) and runs the CPU paths of the race.
import { DataLoader, type ImageDataset, loadFashionMnist } from '../data/index.js';
import { variants } from '../index.js';
import { CPU_PATHS, cpuPathStatus, onCpuPath, type PathId, setLabThreads } from './paths.js';
import type { FromWorker, ToWorker } from './protocol.js';
import { GRID_IMAGES } from './protocol.js';
import { caseInputs, raceCase, raceOn, referenceOutput } from './race.js';
import { LabRun, type TrainConfig } from './trainer.js';

const post = (m: FromWorker, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);

let trainSet: Promise<ImageDataset> | undefined;
let testSet: Promise<ImageDataset> | undefined;
/** Bumped by every 'train': a run whose id is stale stops at its next step. */
let runId = 0;
let paused = false;
let wake: (() => void) | null = null;

const threadsFor = (path: PathId): number | undefined => cpuPathStatus().find((p) => p.id === path)?.threads;

async function train(config: TrainConfig, path: PathId): Promise<void> {
  const id = ++runId;
  paused = false;
  if (!CPU_PATHS.includes(path)) throw new Error(`the worker trains on the cpu paths (${CPU_PATHS.join(', ')}), not '${path}'`);
  const status = cpuPathStatus().find((p) => p.id === path);
  if (!status?.available) throw new Error(`${status?.label ?? path} is unavailable here: ${status?.detail ?? ''}`);
  trainSet ??= loadFashionMnist({ split: 'train', source: 'subset' });
  testSet ??= loadFashionMnist({ split: 'test', source: 'subset' });
  const [ds, test] = await Promise.all([trainSet, testSet]);
  const threads = threadsFor(path);
  const run = new LabRun(config, ds, 'cpu', (fn) => onCpuPath(path, fn, threads));
  const describe = path === 'js' ? 'TypeScript kernels, one thread' : onCpuPath(path, () => variants.describe(), threads);
  post({ type: 'started', path, params: run.model.numParameters(), describe });
  let images = 0;
  let busyMs = 0;
  while (run.stepsDone < config.steps) {
    if (id !== runId) return;
    if (paused) {
      post({ type: 'paused', step: run.stepsDone });
      await new Promise<void>((r) => {
        wake = r;
      });
      continue;
    }
    const t0 = performance.now();
    const result = await run.step();
    busyMs += performance.now() - t0;
    images += result.images;
    post({ type: 'step', result, imagesPerS: images / (busyMs / 1000) });
    await new Promise((r) => setTimeout(r, 0)); // let pause / stop messages in
  }
  const x = new DataLoader(test, { batchSize: GRID_IMAGES }).batchAt(0, 0).x;
  const predicted = await run.predict(x);
  const pixels = test.images.slice(0, GRID_IMAGES * test.height * test.width);
  const labels = Array.from(test.labels.subarray(0, GRID_IMAGES), Number);
  post({ type: 'done', steps: run.stepsDone, grid: { pixels, labels, predicted, classes: [...test.classes] } }, [pixels.buffer]);
}

async function race(cases: ToWorker & { type: 'race' }): Promise<void> {
  const statuses = cpuPathStatus();
  for (const id of cases.cases) {
    const c = raceCase(id);
    const inputs = caseInputs(c);
    const ref = referenceOutput(c, inputs);
    post({ type: 'raceRef', case: id, ref: ref.slice() });
    for (const path of cases.paths) {
      const s = statuses.find((p) => p.id === path);
      if (!s?.available) continue;
      post({ type: 'raceResult', result: await raceOn(c, path, inputs, ref, { budgetMs: 200, threads: s.threads }) });
    }
  }
  post({ type: 'raceDone' });
}

const fail = (where: string) => (e: unknown) => post({ type: 'error', where, message: e instanceof Error ? e.message : String(e) });

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const m = ev.data;
  switch (m.type) {
    case 'hello':
      try {
        setLabThreads(m.threads);
      } catch (e) {
        fail('hello')(e);
      }
      post({ type: 'ready', paths: cpuPathStatus(), isolated: (self as { crossOriginIsolated?: boolean }).crossOriginIsolated === true, describe: variants.describe() });
      break;
    case 'train':
      train(m.config, m.path).catch(fail('train'));
      break;
    case 'pause':
      paused = true;
      break;
    case 'resume':
      paused = false;
      wake?.();
      wake = null;
      break;
    case 'race':
      race(m).catch(fail('race'));
      break;
  }
};
