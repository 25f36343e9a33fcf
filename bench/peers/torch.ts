// PyTorch peer of the CIFAR ResNet-20 training step: bench/peers/torch_train_step.py run by
// Debian's /usr/bin/python3 (python3-torch 1.13; the python3 first on PATH may have no torch).
// The script builds the same network, times its own steps after a warm-up, and prints JSON; this
// row reports its median (an external process cannot be sampled by benchmark.js) and checks the
// first loss. Missing interpreter or torch: the row is skipped and says which.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { timingFromSamples } from '../harness.js';
import { Unavailable } from '../runner.js';
import { threadedName } from '../threads.js';
import type { Variant } from '../types.js';

export const TORCH_PYTHON = '/usr/bin/python3';
export const TORCH_SCRIPT = fileURLToPath(new URL('./torch_train_step.py', import.meta.url));

export interface TorchStepReport {
  torch: string;
  threads: number;
  batch: number;
  depth: number;
  parameters: number;
  first_step_s: number;
  step_s: number[];
  median_s: number;
  images_per_s: number;
  first_loss: number;
  /** state-dict names and shapes, in order */
  state: [string, number[]][];
}

function run(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(TORCH_PYTHON, [TORCH_SCRIPT, ...args], { timeout: timeoutMs, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${TORCH_PYTHON} ${TORCH_SCRIPT} ${args.join(' ')}: ${err.message}${stderr ? `\n${stderr.trim().split('\n').slice(-3).join('\n')}` : ''}`));
      else resolve(stdout);
    });
  });
}

let probe: Promise<string | undefined> | undefined;

/** Why the torch peer cannot run here, or undefined when it can (asked once; torch is found, not imported). */
export function torchMissing(): Promise<string | undefined> {
  probe ??= new Promise((resolve) => {
    if (!existsSync(TORCH_PYTHON)) return resolve(`${TORCH_PYTHON} not found (apt-get install python3-torch)`);
    const find = "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('torch') else 1)";
    execFile(TORCH_PYTHON, ['-c', find], { timeout: 60_000 }, (err) => resolve(err ? `${TORCH_PYTHON} has no torch (apt-get install python3-torch)` : undefined));
  });
  return probe;
}

/** Run the script with `args`; its stdout (one line of JSON). */
export async function runTorchScript(args: string[], timeoutMs = 600_000): Promise<string> {
  const missing = await torchMissing();
  if (missing) throw new Unavailable(missing);
  return run(args, timeoutMs);
}

/** The PyTorch row of the training-step workload at `threads` threads. */
export function torchTrainStepVariant(batch: number, threads: number, steps: { warmup: number; timed: number }): Variant {
  return {
    name: threadedName('pytorch', threads),
    kind: 'peer',
    backend: 'PyTorch (Debian python3-torch)',
    threads,
    note: `its own timing: median of ${steps.timed} steps after ${steps.warmup} warm-up`,
    async prepare() {
      const out = await runTorchScript(['--batch', String(batch), '--threads', String(threads), '--steps', String(steps.timed), '--warmup', String(steps.warmup)]);
      const r = JSON.parse(out) as TorchStepReport;
      if (r.threads !== threads) throw new Error(`torch ran ${r.threads} threads, asked for ${threads}`);
      return {
        run: () => {},
        output: () => new Float32Array([r.first_loss]),
        backend: `PyTorch ${r.torch} (${TORCH_PYTHON}), ${r.threads} thread${r.threads > 1 ? 's' : ''}`,
        external: { firstCallMs: r.first_step_s * 1e3, timing: timingFromSamples(r.step_s.map((s) => s * 1e3)) },
      };
    },
  };
}
