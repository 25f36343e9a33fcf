// The Train tab: the form, the device list, Start / Pause / Resume, the live chart, images/s and
// the grid of test images with predictions. CPU paths train in the worker; the gpu.js paths
// train on this thread (gpu.js draws through the page's canvas), a step at a time.
import { DataLoader, loadFashionMnist } from '../data/index.js';
import { type LiveChart, trainingChart } from './charts.js';
import { byId, el, fmtInt, labState } from './dom.js';
import { ensureGpu } from './gpu.js';
import type { PathId, PathStatus } from './paths.js';
import { type FromWorker, GRID_IMAGES } from './protocol.js';
import { checkConfig, DEFAULT_CONFIG, LabRun, MODEL_CHOICES, type StepResult, type TrainConfig } from './trainer.js';

type Grid = (FromWorker & { type: 'done' })['grid'];

function readForm(): TrainConfig {
  const num = (id: string) => Number((byId<HTMLInputElement>(id)).value);
  return checkConfig({
    model: byId<HTMLSelectElement>('model').value as TrainConfig['model'],
    norm: byId<HTMLSelectElement>('norm').value as TrainConfig['norm'],
    width: num('width'),
    groups: num('groups'),
    batch: num('batch'),
    lr: num('lr'),
    steps: num('steps'),
    seed: DEFAULT_CONFIG.seed,
  });
}

function deviceList(paths: PathStatus[]): void {
  const box = byId('devices');
  box.replaceChildren(el('legend', 'Device'));
  // the fastest CPU path this browser has is picked first
  const best = ['threads', 'wasm', 'js'].find((id) => paths.some((p) => p.id === id && p.available));
  for (const p of paths) {
    const id = `device-${p.id}`;
    const input = el('input', '', { type: 'radio', name: 'device', id, value: p.id });
    input.disabled = !p.available;
    input.checked = p.id === best;
    const label = el('label', '', { for: id });
    label.append(input, ` ${p.label} `, el('span', p.available ? `(${p.detail})` : `unavailable: ${p.detail}`, { class: 'device-detail' }));
    box.append(label);
  }
}

function drawGrid(grid: Grid): void {
  const box = byId('grid');
  box.replaceChildren();
  const side = 28;
  for (let i = 0; i < grid.labels.length; i++) {
    const canvas = el('canvas', '', { width: String(side), height: String(side) });
    const ctx = canvas.getContext('2d');
    if (ctx) {
      const img = ctx.createImageData(side, side);
      for (let p = 0; p < side * side; p++) {
        const v = grid.pixels[i * side * side + p] as number;
        img.data.set([v, v, v, 255], p * 4);
      }
      ctx.putImageData(img, 0, 0);
    }
    const truth = grid.classes[grid.labels[i] as number] ?? '?';
    const guess = grid.classes[grid.predicted[i] as number] ?? '?';
    const right = grid.labels[i] === grid.predicted[i];
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', `test image ${i}: a ${truth}, predicted ${guess}`);
    const fig = el('figure', '', { class: right ? 'hit' : 'miss' });
    fig.append(canvas, el('figcaption', `${right ? '✓' : '✗'} ${guess} (true: ${truth})`));
    box.append(fig);
  }
}

/** Training on a gpu.js path, on this thread; the same messages the worker would post. */
async function trainOnGpu(config: TrainConfig, path: PathId, on: (m: FromWorker) => void, control: { paused: boolean; wake: (() => void) | null }): Promise<void> {
  const describe = await ensureGpu(path);
  const [ds, test] = await Promise.all([loadFashionMnist({ split: 'train', source: 'subset' }), loadFashionMnist({ split: 'test', source: 'subset' })]);
  const run = new LabRun(config, ds, 'gpu');
  on({ type: 'started', path, params: run.model.numParameters(), describe });
  let images = 0;
  let busyMs = 0;
  while (run.stepsDone < config.steps) {
    if (control.paused) {
      on({ type: 'paused', step: run.stepsDone });
      await new Promise<void>((r) => {
        control.wake = r;
      });
      continue;
    }
    const t0 = performance.now();
    const result: StepResult = await run.step();
    busyMs += performance.now() - t0;
    images += result.images;
    on({ type: 'step', result, imagesPerS: images / (busyMs / 1000) });
    await new Promise((r) => setTimeout(r, 0));
  }
  const predicted = await run.predict(new DataLoader(test, { batchSize: GRID_IMAGES }).batchAt(0, 0).x);
  const pixels = test.images.slice(0, GRID_IMAGES * 28 * 28);
  on({ type: 'done', steps: run.stepsDone, grid: { pixels, labels: Array.from(test.labels.subarray(0, GRID_IMAGES), Number), predicted, classes: [...test.classes] } });
}

export function setupTrain(worker: Worker, paths: PathStatus[]): void {
  const model = byId<HTMLSelectElement>('model');
  for (const m of MODEL_CHOICES) model.append(el('option', m.label, { value: m.id }));
  deviceList(paths);
  const status = byId('train-status');
  const start = byId<HTMLButtonElement>('start');
  const pause = byId<HTMLButtonElement>('pause');
  const resume = byId<HTMLButtonElement>('resume');
  let chart: LiveChart | null = null;
  let current: { path: PathId; steps: number; onGpu: boolean } | null = null;
  let gpuControl = { paused: false, wake: null as (() => void) | null };
  let last = '';
  let on = '';

  const buttons = (running: boolean, paused: boolean) => {
    pause.disabled = !running || paused;
    resume.disabled = !running || !paused;
  };

  const handle = async (m: FromWorker) => {
    if (!current) return;
    switch (m.type) {
      case 'started':
        on = m.describe;
        status.textContent = `Training on ${on} — ${fmtInt(m.params)} parameters…`;
        break;
      case 'step': {
        const r = m.result;
        labState.losses.push(r.loss);
        last = `step ${r.step}/${current.steps} · loss ${r.loss.toFixed(4)} · batch accuracy ${(100 * r.accuracy).toFixed(0)}% · ${m.imagesPerS.toFixed(0)} images/s · on ${on}`;
        status.textContent = last;
        await chart?.add([{ step: r.step, loss: r.loss, accuracy: r.accuracy }]);
        break;
      }
      case 'paused':
        status.textContent = `Paused after step ${m.step}. ${last}`;
        break;
      case 'done':
        status.textContent = `Done: ${m.steps} steps. ${last}`;
        drawGrid(m.grid);
        current = null;
        buttons(false, false);
        start.disabled = false;
        labState.trainDone = true;
        break;
      case 'error':
        if (m.where !== 'train') return;
        status.textContent = `Training failed: ${m.message}`;
        labState.errors.push(`train: ${m.message}`);
        current = null;
        buttons(false, false);
        start.disabled = false;
        break;
    }
  };
  worker.addEventListener('message', (ev: MessageEvent<FromWorker>) => {
    if (current && !current.onGpu) void handle(ev.data);
  });

  byId<HTMLFormElement>('train-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    if (byId<HTMLButtonElement>('race-start').disabled) {
      status.textContent = 'The race is running: start training when it has finished, or both would share the CPU.';
      return;
    }
    let config: TrainConfig;
    try {
      config = readForm();
    } catch (err) {
      status.textContent = `Check the form: ${(err as Error).message}`;
      return;
    }
    const path = (document.querySelector<HTMLInputElement>('input[name="device"]:checked')?.value ?? 'js') as PathId;
    chart ??= await trainingChart(byId('train-chart'));
    await chart.clear();
    labState.losses = [];
    labState.trainDone = false;
    byId('grid').replaceChildren(el('p', 'Predictions appear here when the run ends.', { class: 'hint' }));
    const onGpu = path === 'webgl2' || path === 'webgpu';
    current = { path, steps: config.steps, onGpu };
    start.disabled = true;
    buttons(true, false);
    status.textContent = 'Loading the Fashion-MNIST subset and building the model…';
    if (!onGpu) {
      worker.postMessage({ type: 'train', config, path });
      return;
    }
    gpuControl = { paused: false, wake: null };
    trainOnGpu(config, path, (m) => void handle(m), gpuControl).catch((err) => void handle({ type: 'error', where: 'train', message: (err as Error).message }));
  });
  pause.addEventListener('click', () => {
    if (!current) return;
    if (current.onGpu) gpuControl.paused = true;
    else worker.postMessage({ type: 'pause' });
    buttons(true, true);
    resume.focus();
  });
  resume.addEventListener('click', () => {
    if (!current) return;
    if (current.onGpu) {
      gpuControl.paused = false;
      gpuControl.wake?.();
    } else worker.postMessage({ type: 'resume' });
    buttons(true, false);
    pause.focus();
  });
}
