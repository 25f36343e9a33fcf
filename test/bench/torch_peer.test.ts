// The PyTorch training-step peer (bench/peers/torch_train_step.py under Debian's /usr/bin/python3)
// on a tiny batch: it builds the same network as models.cifarResNet(20) (same state-dict names and
// shapes, same parameter count), prints its timings as JSON, and becomes a checked peer row of
// the training-step workload at each thread count. Skipped, saying so, only where
// /usr/bin/python3 has no torch (it is installed on the dev machine and in CI).
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { runTorchScript, TORCH_PYTHON, type TorchStepReport } from '../../bench/peers/torch.js';
import { runWorkloads } from '../../bench/runner.js';
import { modelSuite } from '../../bench/suites/models.js';
import { models } from '../../index.js';

const probe = spawnSync(TORCH_PYTHON, ['-c', "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('torch') else 1)"]);
const hasTorch = probe.status === 0;

describe.skipIf(!hasTorch)(`bench PyTorch peer (needs ${TORCH_PYTHON} with torch)`, () => {
  it('--batch 4 --steps 2: the same state dict as models.cifarResNet(20); per-step times, median, images/s, a finite loss', async () => {
    const r = JSON.parse(await runTorchScript(['--batch', '4', '--threads', '1', '--steps', '2', '--warmup', '1'])) as TorchStepReport;
    const ours = models.cifarResNet(20);
    expect(r.state).toEqual(Object.entries(ours.stateDict()).map(([k, t]) => [k, [...t.shape]]));
    expect(r.parameters).toBe(ours.numParameters());
    expect(r.batch).toBe(4);
    expect(r.threads).toBe(1);
    expect(r.step_s).toHaveLength(2);
    expect(r.median_s).toBeCloseTo((r.step_s[0]! + r.step_s[1]!) / 2, 12);
    expect(r.images_per_s).toBeCloseTo(4 / r.median_s, 6);
    // cross-entropy over 10 classes at init is near ln 10 ≈ 2.3
    expect(r.first_loss).toBeGreaterThan(0.5);
    expect(r.first_loss).toBeLessThan(10);
  }, 60_000);

  it('quick training-step workload with --peers at threads 1,2: a checked pytorch row per count, in images/s', async () => {
    const [w] = await modelSuite().workloads({ backends: new Set(['cpu']), peers: true, quick: true, threads: [1, 2] });
    const peers = w!.variants.filter((v) => v.kind === 'peer');
    expect(peers.map((v) => [v.name, v.threads])).toEqual([
      ['pytorch', 1],
      ['pytorch 2t', 2],
    ]);
    const rs = await runWorkloads([{ ...w!, variants: peers }], { maxTime: 0.01, minSamples: 2 });
    for (const r of rs) {
      expect(r.status, `${r.variant}: ${r.reason}`).toBe('ok');
      expect(r.backend).toContain(`${r.threads} thread`);
      expect(r.timing!.samples).toBe(2);
      expect(r.imagesPerS).toBeCloseTo(8 / (r.timing!.medianMs / 1e3), 6);
      expect(r.error).toBe(0); // the finite-loss check
    }
  }, 120_000);
});
