// Exact resume, end to end: `resgrad train` on a tiny net and subset runs once uninterrupted;
// then the same run is killed with SIGKILL at a (seeded) random step, resumed with --resume,
// killed again later, resumed again to the end. Its final model.safetensors must equal the
// uninterrupted run's byte for byte (CPU, one thread, checkpoints every step).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Generator } from '../../index.js';
import { findCheckpoint } from '../../train/checkpoint.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(root, 'bench', 'bin', 'resgrad.mjs');

// 2 classes x 16 images, batch 8: 4 steps an epoch, 12 in all; crop and flip draw random numbers
// too, so the data order and augmentation state must come back with the checkpoint.
const EPOCHS = 3;
const STEPS = EPOCHS * 4;
const RUN = [
  'train', '--model', 'cifarResNet8', '--width', '4', '--source', 'subset', '--classes', '0,1',
  '--per-class', '16', '--test-per-class', '4', '--epochs', String(EPOCHS), '--batch', '8',
  '--crop-padding', '2', '--hflip', '--threads', '1', '--seed', '5', '--checkpoint-every', '1', '--log-every', '1',
];

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  steps: number[];
}

/** Run the CLI; with killAt, SIGKILL it as soon as it reports that step (stdout, --json). */
function train(args: string[], killAt?: number): Promise<Exit> {
  return new Promise((done, fail) => {
    const child: ChildProcess = spawn(process.execPath, [bin, ...args, '--json'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const steps: number[] = [];
    let stderr = '';
    let pending = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        let rec: { type?: string; step?: number };
        try {
          rec = JSON.parse(line);
        } catch {
          continue; // --json prints only JSON; anything else is not progress
        }
        if (rec.type !== 'step') continue;
        steps.push(rec.step as number);
        if (killAt !== undefined && (rec.step as number) >= killAt) child.kill('SIGKILL');
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', fail);
    child.on('exit', (code, signal) => done({ code, signal, stderr, steps }));
  });
}

const dirs: string[] = [];
const newDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'resgrad-resume-'));
  dirs.push(d);
  return join(d, 'run');
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('resgrad train: kill -9 and --resume end bit-identical to an uninterrupted run', () => {
  it(`cifarResNet8 width 4, ${STEPS} steps, killed twice at seeded random steps`, { timeout: 120_000 }, async () => {
    const straight = newDir();
    const a = await train([...RUN, '--out', straight]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.steps).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));

    // two kill points, the second after the first: step k1 in [2, 5], k2 in [k1 + 2, STEPS - 3]
    const g = new Generator(2026);
    const k1 = g.integer(2, 6);
    const k2 = g.integer(k1 + 2, STEPS - 2);
    const run = newDir();
    const b = await train([...RUN, '--out', run], k1);
    expect(b.signal, `killed at step ${k1}: ${b.stderr}`).toBe('SIGKILL');
    expect(findCheckpoint(run), 'a checkpoint survives the kill').not.toBeNull();
    const c = await train(['train', '--resume', run], k2);
    expect(c.signal, `killed again at step ${k2}: ${c.stderr}`).toBe('SIGKILL');
    expect(c.steps[0], 'the resumed run continues after its checkpoint').toBeGreaterThan(1);
    const d = await train(['train', '--resume', run]);
    expect(d.code, d.stderr).toBe(0);
    expect(d.steps[d.steps.length - 1]).toBe(STEPS);

    const want = readFileSync(join(straight, 'model.safetensors'));
    const got = readFileSync(join(run, 'model.safetensors'));
    expect(got.length).toBe(want.length);
    expect(Buffer.compare(got, want), `final weights after kills at steps ${k1} and ${k2}`).toBe(0);
  });
});
