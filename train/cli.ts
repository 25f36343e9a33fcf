// `resgrad train [options]`: the main job. Checks every flag, loads the data, builds the model
// (with --init / --freeze), trains with progress, evaluates each epoch, checkpoints, and writes
// the run folder. `main` returns the exit code: 0 done, 1 error, 130 stopped by a signal (after
// a checkpoint: `--resume DIR` continues).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { manualSeed } from '../core/random.js';
import { describe as describeVariants } from '../core/cpu/variants.js';
import { getBackend, hasBackend } from '../core/backend.js';
import { initGpu } from '../core/gpu/init.js';
import { getNumThreads, setNumThreads } from '../kernels/wasm/runtime.js';
import '../core/cpu/index.js';
import { ResgradError } from '../core/errors.js';
import { type ImageDataset, DataLoader, loadFashionMnist, selectClasses, takePerClass } from '../data/index.js';
import { saveSafetensors } from '../models/safetensors.js';
import { fetchCheckpointTensors, loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { type Classifier, type LoopState, initialLoopState, runLoop } from './loop.js';
import { ConfusionMatrix } from './metrics.js';
import { UsageError, buildModel, freezeUpTo, loadInitWeights, resolveShape } from './models.js';
import { type TrainOptions, USAGE, checkResumeFlags, parseTrainArgs, toArgs } from './options.js';
import { BarReporter, JsonReporter, LineReporter, QuietReporter, type Reporter } from './progress.js';
import { meanImagesPerS, renderReport } from './report.js';
import { type MachineInfo, defaultRunDir, machineInfo, writeFileAtomic, writeJsonAtomic } from './run_folder.js';
import { buildOptimizer, buildScheduler } from './schedule.js';

/** Where output goes, and hooks for tests (a stop signal, a callback after every step). */
export interface TrainEnv {
  stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  stderr?: NodeJS.WritableStream;
  /** Aborting it stops the run as SIGINT does: the current step ends, a checkpoint is taken. */
  signal?: AbortSignal;
  onStep?: (state: LoopState) => void;
}

/** What config.json holds. */
export interface RunConfig {
  format: 'resgrad-train-run/1';
  command: string;
  rerun: string;
  started: string;
  options: TrainOptions;
  resolved: { groups: number; width: number; threads: string; classes: string[]; train: string; test: string; parameters: number; trainable: number };
  machine: MachineInfo;
  git: string | null;
}

const EVAL_BATCH = 256;

/** An argument as a POSIX shell reads it back. */
const shellQuote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
const FORMAT = 'resgrad-train-run/1';

function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/** Read a run folder's config.json for --resume. */
function readRunConfig(dir: string): RunConfig {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) throw new UsageError(`--resume: expected a run folder with config.json and checkpoint/, but '${dir}' has no config.json`);
  let c: RunConfig;
  try {
    c = JSON.parse(readFileSync(path, 'utf8')) as RunConfig;
  } catch (e) {
    throw new UsageError(`--resume: '${path}' is not valid JSON: ${(e as Error).message}`);
  }
  if (c?.format !== FORMAT || typeof c.options !== 'object') throw new UsageError(`--resume: expected '${path}' written by resgrad train (format ${FORMAT}), but got format ${JSON.stringify(c?.format)}`);
  return c;
}

/** The run folder for a new run: new, or an empty folder. */
function checkNewRunDir(dir: string): void {
  if (!existsSync(dir)) return;
  const entries = readdirSync(dir);
  if (entries.length > 0) {
    throw new UsageError(
      `--out: expected a new or empty folder, but '${dir}' holds ${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', ...' : ''}${entries.includes('config.json') ? ` (continue that run with --resume ${dir})` : ''}`,
    );
  }
}

async function loadData(o: TrainOptions): Promise<{ train: ImageDataset; test: ImageDataset }> {
  const load = (split: 'train' | 'test') => loadFashionMnist({ split, source: o.source, ...(o.data !== null ? { dir: o.data } : {}) });
  let train = await load('train');
  let test = await load('test');
  if (o.classes) {
    train = selectClasses(train, o.classes, true);
    test = selectClasses(test, o.classes, true);
  }
  if (o.perClass !== null) train = takePerClass(train, o.perClass, o.seed);
  if (o.testPerClass !== null) test = takePerClass(test, o.testPerClass, o.seed);
  if (o.batch > train.length) throw new UsageError(`--batch: expected at most the number of training images (${train.length}), but got ${o.batch}`);
  return { train, test };
}

const describeData = (d: ImageDataset) => `${d.length.toLocaleString('en-US')} images of ${d.classes.length} classes from ${d.source}`;

function makeReporter(p: { quiet: boolean; json: boolean }, out: NodeJS.WritableStream & { isTTY?: boolean }, err: NodeJS.WritableStream & { isTTY?: boolean }): Reporter {
  const write = (s: string) => void out.write(s);
  if (p.json) return new JsonReporter(write);
  if (p.quiet) return new QuietReporter(write);
  return err.isTTY ? new BarReporter(write, err) : new LineReporter(write);
}

export async function main(args: string[], env: TrainEnv = {}): Promise<number> {
  const stdout = env.stdout ?? process.stdout;
  const stderr = env.stderr ?? process.stderr;
  let parsed: ReturnType<typeof parseTrainArgs>;
  try {
    parsed = parseTrainArgs(args);
  } catch (e) {
    if (e instanceof ResgradError) {
      stderr.write(`resgrad train: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  if (parsed.help) {
    stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    return await run(args, parsed.options, parsed.given, parsed.presentation, stdout, stderr, env);
  } catch (e) {
    if (e instanceof ResgradError) {
      stderr.write(`resgrad train: ${e.name === 'UsageError' ? '' : `${e.name}: `}${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

async function run(
  args: string[],
  given: TrainOptions,
  explicit: Partial<TrainOptions>,
  presentation: { quiet: boolean; json: boolean; resume: string | null },
  stdout: NodeJS.WritableStream & { isTTY?: boolean },
  stderr: NodeJS.WritableStream & { isTTY?: boolean },
  env: TrainEnv,
): Promise<number> {
  // 1. Options: a new run's, or the saved ones of the run to resume.
  let options = given;
  let outDir: string;
  let saved: RunConfig | null = null;
  const resumeDir = presentation.resume;
  if (resumeDir !== null) {
    outDir = resumeDir;
    saved = readRunConfig(outDir);
    checkResumeFlags(saved.options, explicit);
    if (explicit.out != null && resolve(explicit.out) !== resolve(outDir)) {
      throw new UsageError(`--out: expected the resumed run's folder '${outDir}' (or no --out), but got '${explicit.out}'`);
    }
    options = saved.options;
    resolveShape(options);
  } else {
    outDir = options.out ?? defaultRunDir(options.model);
    checkNewRunDir(outDir);
  }

  // 2. The machine.
  // a gpu backend the host already started in this mode is used as it is (e.g. with asyncMode)
  const running = hasBackend('gpu') ? (getBackend('gpu') as { mode?: string }).mode : undefined;
  if (options.device === 'gpu' && running !== options.gpuMode) await initGpu({ mode: options.gpuMode as 'headlessgl' });
  else {
    if (options.threads !== null) setNumThreads(options.threads);
    options = { ...options, threads: getNumThreads() }; // saved, so a resume runs on as many
  }
  const threads = options.device === 'gpu' ? `gpu.js ${options.gpuMode}` : `${options.threads} (${describeVariants()})`;

  // 3. The model (before the data: a bad --freeze or --init fails before any loading).
  const classCount = options.classes?.length ?? 10;
  manualSeed(options.seed);
  const model = buildModel(options, 1, classCount) as Classifier;
  const notes = options.init !== null && saved === null ? loadInitWeights(model, options.init) : [];
  const frozen = options.freeze !== null ? freezeUpTo(model, options.freeze) : [];
  if (options.freeze !== null) notes.push(`frozen up to ${options.freeze}`);
  if (options.device === 'gpu') model.to('gpu');
  const trainable = model.parameters().filter((p) => p.requiresGrad);
  if (trainable.length === 0) throw new UsageError(`--freeze: expected a layer before the last one (something must train), but got '${options.freeze}'`);

  // 4. The data.
  const data = await loadData(options);
  const augment = { cropPadding: options.cropPadding, hflip: options.hflip };
  const trainLoader = new DataLoader(data.train, { batchSize: options.batch, shuffle: true, seed: options.seed, dropLast: true, augment });
  const testLoader = new DataLoader(data.test, { batchSize: EVAL_BATCH });
  const optimizer = buildOptimizer(trainable, options);
  const scheduler = buildScheduler(optimizer, options, trainLoader.numBatches);
  const classes = [...data.train.classes];

  // 5. The run folder: config.json once, at the start; a resume reads the checkpoint.
  const reporter = makeReporter(presentation, stdout, stderr);
  const parameters = model.numParameters();
  const rerun = `npx resgrad train ${toArgs(options).map(shellQuote).join(' ')}`.trimEnd();
  const config: RunConfig = saved ?? {
    format: FORMAT,
    command: `resgrad train ${args.map(shellQuote).join(' ')}`.trimEnd(),
    rerun,
    started: new Date().toISOString(),
    options,
    resolved: {
      ...resolveShape(options),
      threads,
      classes,
      train: describeData(data.train),
      test: describeData(data.test),
      parameters,
      trainable: model.numParameters(true),
    },
    machine: machineInfo(),
    git: gitCommit(),
  };
  let state: LoopState;
  // Through JSON: a diverged loss (NaN) is saved as null rather than refused.
  const extraOf = (s: LoopState) => JSON.parse(JSON.stringify({ format: FORMAT, options, loop: s, loader: { epoch: s.epoch, batch: s.batch, seed: options.seed } }));
  const checkpoint = async (s: LoopState) => {
    if (options.device === 'gpu') await fetchCheckpointTensors({ model, optimizer }); // webgpu reads asynchronously
    saveCheckpoint(outDir, { model, optimizer, ...(scheduler ? { scheduler } : {}), extra: extraOf(s) });
  };
  if (saved === null) {
    writeJsonAtomic(join(outDir, 'config.json'), config);
    state = initialLoopState();
    await checkpoint(state); // a run stopped before its first epoch ends can be resumed too
  } else {
    const extra = loadCheckpoint(outDir, { model, optimizer, ...(scheduler ? { scheduler } : {}) });
    if (extra.format !== FORMAT || JSON.stringify(extra.options) !== JSON.stringify(options)) {
      throw new UsageError(`--resume: the checkpoint in '${outDir}' was not written by this run's config.json (its options differ)`);
    }
    state = extra.loop as LoopState;
  }

  const title = `${options.model} on Fashion-MNIST (${data.train.source})`;
  reporter.info(`${saved ? 'resuming' : 'training'} ${options.model} (norm ${options.norm}): ${parameters.toLocaleString('en-US')} parameters, ${model.numParameters(true).toLocaleString('en-US')} trainable${notes.length ? `; ${notes.join('; ')}` : ''}`);
  reporter.info(`data: train ${describeData(data.train)}; test ${describeData(data.test)}`);
  reporter.info(`${options.epochs} epoch${options.epochs === 1 ? '' : 's'} of ${trainLoader.numBatches} batches of ${options.batch}; ${options.optimizer} lr ${options.lr}, ${options.schedule} schedule; threads ${threads}`);
  if (saved) reporter.info(`from epoch ${state.epoch + 1}, batch ${state.batch} (step ${state.step})`);
  reporter.info(`run folder: ${outDir}`);

  // 6. Train, stopping cleanly on the first SIGINT/SIGTERM (a second one quits at once).
  let stop = false;
  const onSignal = () => {
    if (stop) {
      reporter.close(); // gives the terminal its cursor back
      process.exit(130);
    }
    stop = true;
    stderr.write('\nresgrad train: stopping after this step to save a checkpoint (again to quit without one)\n');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let outcome: 'done' | 'interrupted';
  try {
    outcome = await runLoop(
      {
        model,
        frozen,
        optimizer,
        scheduler,
        train: trainLoader,
        test: testLoader,
        classes,
        epochs: options.epochs,
        device: options.device,
        outDir,
        title,
        logEvery: options.logEvery,
        checkpointEvery: options.checkpointEvery,
        reporter,
        checkpoint,
        stopRequested: () => stop || env.signal?.aborted === true,
        ...(env.onStep ? { onStep: env.onStep } : {}),
      },
      state,
    );
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    reporter.close();
  }
  if (outcome === 'interrupted') {
    reporter.done(`stopped at epoch ${state.epoch + 1}, batch ${state.batch} (step ${state.step}); checkpoint saved: resgrad train --resume ${outDir}`, {
      stopped: true,
      run_dir: outDir,
      step: state.step,
    });
    return 130;
  }

  // 7. The final files.
  if (options.device === 'gpu') {
    // to('cpu') reads synchronously: on webgpu, await every value it moves (weights, buffers, grads) first
    await fetchCheckpointTensors({ model, optimizer });
    await Promise.all(model.parameters().map((p) => p.grad?.data()));
    model.to('cpu');
  }
  saveSafetensors(join(outDir, 'model.safetensors'), model.stateDict(), { int32As: 'I64', metadata: { format: 'pt', model: options.model } });
  const confusion = ConfusionMatrix.fromJSON(state.confusion as { classes: string[]; matrix: number[][] });
  writeJsonAtomic(join(outDir, 'confusion.json'), confusion.toJSON());
  const reportPath = join(outDir, 'report.md');
  writeFileAtomic(
    reportPath,
    renderReport({
      title,
      command: config.command,
      rerun: config.rerun,
      started: config.started,
      machine: config.machine,
      threads,
      model: { name: options.model, parameters, trainable: model.numParameters(true), notes },
      data: { train: describeData(data.train), test: describeData(data.test) },
      optimizer: `${options.optimizer}, lr ${options.lr}${options.optimizer === 'sgd' ? `, momentum ${options.momentum}` : ''}, weight decay ${options.wd}, ${options.schedule} schedule${options.warmup ? ` after ${options.warmup} epochs of warm-up` : ''}, batch ${options.batch}`,
      records: state.records,
      confusion: confusion.toJSON(),
      timeS: state.elapsedS,
      resumed: saved !== null,
    }),
  );
  const last = state.records.filter((r) => r.type === 'epoch').at(-1);
  const summary = {
    run_dir: outDir,
    report: reportPath,
    epochs: options.epochs,
    steps: state.step,
    test_accuracy: last?.type === 'epoch' ? last.test_accuracy : null,
    train_accuracy: last?.type === 'epoch' ? last.train_accuracy : null,
    time_s: state.elapsedS,
    images_per_s: meanImagesPerS(state.records),
  };
  const text = [
    '',
    'confusion matrix (test set):',
    confusion.toText(),
    '',
    `test accuracy ${(100 * confusion.accuracy).toFixed(2)}% in ${state.elapsedS.toFixed(1)} s (${summary.images_per_s.toFixed(1)} training images/s)`,
    `report: ${reportPath}`,
  ].join('\n');
  reporter.done(text, summary);
  return 0;
}
