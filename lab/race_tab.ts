// The Race tab: the worker runs the CPU paths (and sends each case's reference output); then the
// gpu.js paths run here, checked against the same references. Bars appear as results come in.
import { type LiveChart, raceChart } from './charts.js';
import { byId, el, labState } from './dom.js';
import { ensureGpu } from './gpu.js';
import { CPU_PATHS, GPU_PATHS, PATH_LABELS, type PathStatus } from './paths.js';
import type { FromWorker } from './protocol.js';
import { type CaseId, caseInputs, RACE_CASES, type RaceResult, raceCase, raceOn } from './race.js';

export function setupRace(worker: Worker, paths: PathStatus[]): void {
  const button = byId<HTMLButtonElement>('race-start');
  const status = byId('race-status');
  const tbody = byId('race-table').querySelector('tbody') as HTMLTableSectionElement;
  let chart: LiveChart | null = null;
  const refs = new Map<CaseId, Float32Array>();
  let t0 = 0;
  const available = (ids: readonly string[]) => paths.filter((p) => p.available && ids.includes(p.id));

  const show = async (r: RaceResult) => {
    const c = raceCase(r.case);
    const row = el('tr');
    const checked = `error ${r.error?.toExponential(1)}`;
    const result =
      r.status === 'ok'
        ? `ok (${checked})`
        : r.status === 'once'
          ? `ok (${checked}); timed once, with compilation: software renderer`
          : r.status === 'wrong'
            ? `WRONG: ${r.reason}`
            : `error: ${r.reason}`;
    row.append(
      el('td', c.label),
      el('td', PATH_LABELS[r.path], { class: 'text' }),
      el('td', result, { class: r.status === 'ok' || r.status === 'once' ? 'text' : 'text wrong' }),
      el('td', r.gflops === undefined ? '—' : r.gflops.toFixed(2)),
      el('td', r.medianMs === undefined ? '—' : r.medianMs.toFixed(2)),
      el('td', r.firstMs === undefined ? '—' : r.firstMs.toFixed(1)),
    );
    tbody.append(row);
    labState.race.push({ case: r.case, path: r.path, status: r.status, ...(r.gflops === undefined ? {} : { gflops: r.gflops }) });
    const timed = r.status === 'ok' || r.status === 'once';
    status.textContent = `${c.label} on ${PATH_LABELS[r.path]}: ${timed ? `${r.gflops?.toFixed(2)} GFLOP/s` : r.status.toUpperCase()}`;
    if (timed) await chart?.add([{ kernel: c.label, path: PATH_LABELS[r.path], gflops: r.gflops }]);
  };

  const gpuLeg = async () => {
    for (const p of available(GPU_PATHS)) {
      let software = false;
      try {
        status.textContent = `Starting ${p.label}…`;
        // llvmpipe / SwiftShader run shaders on the CPU, 10-25x slower: one checked call each
        software = /swiftshader|llvmpipe|softpipe/i.test(`${await ensureGpu(p.id)} ${p.detail}`);
      } catch (e) {
        for (const c of RACE_CASES) await show({ case: c.id, path: p.id, status: 'error', reason: (e as Error).message });
        continue;
      }
      for (const c of RACE_CASES) {
        const ref = refs.get(c.id);
        if (!ref) continue;
        await show(await raceOn(c, p.id, caseInputs(c), ref, { budgetMs: 150, minReps: 2, once: software }));
      }
    }
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    status.textContent = `Race finished in ${secs} s.`;
    labState.raceDone = true;
    button.disabled = false;
  };

  worker.addEventListener('message', (ev: MessageEvent<FromWorker>) => {
    const m = ev.data;
    if (m.type === 'raceRef') refs.set(m.case, m.ref);
    else if (m.type === 'raceResult') void show(m.result);
    else if (m.type === 'raceDone') void gpuLeg();
    else if (m.type === 'error' && m.where === 'race') {
      status.textContent = `The race failed: ${m.message}`;
      labState.errors.push(`race: ${m.message}`);
      button.disabled = false;
    }
  });

  button.addEventListener('click', async () => {
    if (byId<HTMLButtonElement>('start').disabled) {
      status.textContent = 'A training run is in progress (or paused): let it finish first, or the race would share the CPU with it.';
      return;
    }
    button.disabled = true;
    labState.race = [];
    labState.raceDone = false;
    tbody.replaceChildren();
    refs.clear();
    chart ??= await raceChart(byId('race-chart'));
    await chart.clear();
    t0 = performance.now();
    status.textContent = 'Running the CPU paths in the worker…';
    worker.postMessage({ type: 'race', cases: RACE_CASES.map((c) => c.id), paths: available(CPU_PATHS).map((p) => p.id) });
  });
}
