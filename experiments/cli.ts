// `resgrad experiment <name> [--quick|--full] [--out DIR] [--seed S] [--threads N]`: run one
// experiment and write its report folder (report.md, the plots as SVG, results.json). `main`
// returns the exit code: 0 done, 1 a usage error or a failed run.
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { getNumThreads, setNumThreads } from '../kernels/wasm/runtime.js';
import { type Budget, type Experiment, machineDescription, writeReport } from './framework.js';
import { EXPERIMENTS } from './index.js';

export interface CliIo {
  out?: (line: string) => void;
  err?: (line: string) => void;
}

function usage(): string {
  const names = Object.values(EXPERIMENTS).map((e) => `  ${e.name.padEnd(15)}${e.about}`);
  return [
    'usage: resgrad experiment <name> [--quick|--full] [--out DIR] [--seed S] [--threads N]',
    '',
    'experiments:',
    ...names,
    '',
    'options:',
    '  --quick        a few minutes on 2 cores, on the embedded Fashion-MNIST subset (default)',
    '  --full         the real run (long; its reports are the ones under docs/experiments/)',
    '  --out DIR      the report folder (default: docs/experiments/<name> for --full,',
    '                 runs/experiments/<name>-<date> otherwise)',
    '  --seed S       seeds the weights and the data order (default 0)',
    '  --threads N    worker threads for the kernels (default: RESGRAD_NUM_THREADS or every core)',
  ].join('\n');
}

class UsageError extends Error {}

/** A word as a shell would need it quoted to give the same argument back. */
const shellWord = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`);

interface Parsed {
  exp: Experiment;
  budget: Budget;
  out: string;
  seed: number;
  threads?: number;
}

function parse(args: string[], now: Date): Parsed | 'help' {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof FLAGS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args, options: FLAGS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  if (positionals.length !== 1) {
    throw new UsageError(`expected one experiment name (${Object.keys(EXPERIMENTS).join(', ')}), but got ${positionals.length === 0 ? 'none' : positionals.map((p) => `'${p}'`).join(' ')}`);
  }
  const name = positionals[0]!;
  const exp = Object.hasOwn(EXPERIMENTS, name) ? EXPERIMENTS[name] : undefined;
  if (!exp) throw new UsageError(`unknown experiment '${name}': expected one of ${Object.keys(EXPERIMENTS).join(', ')}`);
  const chosen = (['tiny', 'quick', 'full'] as const).filter((b) => values[b]);
  if (chosen.length > 1) throw new UsageError(`expected at most one of --quick, --full, but got ${chosen.map((b) => `--${b}`).join(' and ')}`);
  const budget: Budget = chosen[0] ?? 'quick';
  const seed = values.seed === undefined ? 0 : Number(values.seed);
  if (!Number.isSafeInteger(seed) || seed < 0 || values.seed?.trim() === '') throw new UsageError(`--seed: expected a non-negative integer, but got '${values.seed}'`);
  let threads: number | undefined;
  if (values.threads !== undefined) {
    threads = Number(values.threads);
    if (!Number.isInteger(threads) || threads < 1 || values.threads.trim() === '') throw new UsageError(`--threads: expected a positive integer, but got '${values.threads}'`);
  }
  if (values.out === '') throw new UsageError(`--out: expected a folder, but got ''`);
  const stamp = now.toISOString().slice(0, 19).replace(/:/g, '-');
  const out = values.out ?? (budget === 'full' ? join('docs', 'experiments', exp.name) : join('runs', 'experiments', `${exp.name}-${stamp}`));
  return { exp, budget, out, seed, threads };
}

const FLAGS = {
  quick: { type: 'boolean' },
  full: { type: 'boolean' },
  tiny: { type: 'boolean' }, // for the tests: seconds, a handful of images; not in the usage text
  out: { type: 'string' },
  seed: { type: 'string' },
  threads: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function main(args: string[], io: CliIo = {}): Promise<number> {
  const out = io.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const err = io.err ?? ((line: string) => process.stderr.write(`${line}\n`));
  const started = new Date();
  let p: Parsed | 'help';
  try {
    p = parse(args, started);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`resgrad experiment: ${e.message}\n\n${usage()}`);
    return 1;
  }
  if (p === 'help') {
    out(usage());
    return 0;
  }
  if (p.threads !== undefined) setNumThreads(p.threads);
  const machine = machineDescription(getNumThreads());
  out(`resgrad experiment ${p.exp.name} (${p.budget}, seed ${p.seed}) -> ${p.out}`);
  const t0 = performance.now();
  const result = await p.exp.run({ budget: p.budget, out: p.out, seed: p.seed, threads: p.threads }, (line) => out(`  ${line}`));
  const seconds = (performance.now() - t0) / 1000;
  const command = ['resgrad', 'experiment', ...args].map(shellWord).join(' ');
  await writeReport(p.out, p.exp, result, { command, seed: p.seed, budget: p.budget, machine, startedAt: started.toISOString(), seconds });
  out(`wrote ${join(p.out, 'report.md')} (${seconds.toFixed(1)} s)`);
  return 0;
}
