// `resgrad train` flags: defaults, what each flag sets, and an error naming the flag, the
// expected and the actual value for every bad one, before any work starts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULTS, parseTrainArgs, type TrainOptions, toArgs } from '../../train/options.js';

const tmp = mkdtempSync(join(tmpdir(), 'resgrad-train-options-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function options(args: string[]): TrainOptions {
  const p = parseTrainArgs(args);
  if (p.help) throw new Error('unexpected --help');
  return p.options;
}

describe('resgrad train: parsing', () => {
  it('no flags: the default run (ResNet-8, BatchNorm, the embedded subset, SGD with cosine)', () => {
    const o = options([]);
    expect(o).toEqual(DEFAULTS);
    expect(o.model).toBe('cifarResNet8');
    expect(o.source).toBe('subset');
  });

  it('--help and -h ask for the usage, which names every flag', () => {
    expect(parseTrainArgs(['--help'])).toEqual({ help: true });
    expect(parseTrainArgs(['-h'])).toEqual({ help: true });
  });

  it('every flag sets its option', () => {
    const init = join(tmp, 'w.safetensors');
    writeFileSync(init, '');
    const o = options([
      ...['--model', 'resnext50_32x4d', '--norm', 'gn', '--groups', '8', '--width', '8', '--source', 'auto'],
      ...['--classes', '0,2,4', '--per-class', '30', '--test-per-class', '5', '--crop-padding', '2', '--hflip'],
      ...['--epochs', '6', '--batch', '32', '--lr', '0.05', '--momentum', '0.8', '--wd', '1e-4'],
      ...['--schedule', 'multistep', '--milestones', '2,4', '--gamma', '0.2', '--warmup', '0.5', '--seed', '7'],
      ...['--threads', '1', '--out', join(tmp, 'run'), '--checkpoint-every', '10', '--log-every', '5'],
      ...['--init', init, '--freeze', 'layer2'],
    ]);
    expect(o).toMatchObject({
      model: 'resnext50_32x4d', norm: 'gn', groups: 8, width: 8, source: 'auto', classes: [0, 2, 4], perClass: 30, testPerClass: 5,
      cropPadding: 2, hflip: true, epochs: 6, batch: 32, lr: 0.05, momentum: 0.8, wd: 1e-4, schedule: 'multistep',
      milestones: [2, 4], gamma: 0.2, warmup: 0.5, seed: 7, threads: 1, checkpointEvery: 10, logEvery: 5, init, freeze: 'layer2',
    });
  });

  it('the optimizer picks the lr and weight decay defaults (torch: Adam wd 0, AdamW 0.01)', () => {
    expect(options(['--optimizer', 'adam'])).toMatchObject({ lr: 1e-3, wd: 0 });
    expect(options(['--optimizer', 'adamw'])).toMatchObject({ lr: 1e-3, wd: 0.01 });
    expect(options(['--optimizer', 'adamw', '--lr', '0.01'])).toMatchObject({ lr: 0.01, wd: 0.01 });
  });

  it('--data implies --source full', () => {
    expect(options(['--data', tmp]).source).toBe('full');
  });

  it('the rerun flags of config.json give the same options back', () => {
    const o = options(['--model', 'cifarPlain14', '--width', '8', '--optimizer', 'adamw', '--schedule', 'step', '--step-size', '2', '--epochs', '5', '--hflip']);
    expect(options(toArgs(o))).toEqual({ ...o, out: null });
    expect(toArgs(DEFAULTS)).toEqual([]);
  });

  it('--json and --quiet are presentation, --resume names the run folder', () => {
    const p = parseTrainArgs(['--json', '--resume', tmp]);
    expect(p.help === false && p.presentation).toEqual({ quiet: false, json: true, resume: tmp });
  });
});

describe('resgrad train: every bad flag is an error naming the flag, the expected and the actual value', () => {
  const cases: [string[], RegExp][] = [
    [['--lrr', '1'], /Unknown option '--lrr'.*resgrad train --help/],
    [['--lr'], /--lr <value>' argument missing/],
    [['--seed', '-1'], /Option '--seed' argument is ambiguous.*'--seed=-XYZ'/s],
    [['extra'], /Unexpected argument 'extra'|positional/],
    [['--model', 'resnet19'], /--model: expected one of cifarResNet8, .*cifarPlain20, .*resnet18, .*resnext50_32x4d.*, but got 'resnet19'/],
    [['--model='], /--model: expected a value, but got ''/],
    [['--norm', 'batch'], /--norm: expected one of bn, gn, ln, in, but got 'batch'/],
    [['--groups', '0'], /--groups: expected an integer >= 1, but got '0'/],
    [['--width', '2.5'], /--width: expected an integer >= 1, but got '2.5'/],
    [['--groups', '3'], /--groups: expected a divisor of --width \(16; the stages have 16, 32 and 64 channels\), but got 3/],
    [['--width', '6', '--groups', '4'], /divisor of --width \(6;.*but got 4/],
    [['--model', 'resnet18', '--groups', '2'], /--groups: expected 1 for resnet18 .*but got 2/],
    [['--model', 'resnet34', '--width', '32'], /--width: expected 64 for resnet34 .*but got 32/],
    [['--source', 'web'], /--source: expected one of auto, full, subset, but got 'web'/],
    [['--data', '/nonexistent/fashion'], /--data: expected an existing folder .*, but got '\/nonexistent\/fashion' \(not found\)/],
    [['--data', '.', '--source', 'subset'], /--data: expected no --source subset with it/],
    [['--classes', '0,,1'], /--classes: expected a comma-separated list of integers such as 0,2,4, but got '0,,1'/],
    [['--classes', '1,1'], /--classes: expected distinct class indices, but got '1,1'/],
    [['--classes', '3'], /--classes: expected at least two classes, but got '3'/],
    [['--classes', '0,10'], /--classes: expected class indices of Fashion-MNIST, 0..9, but got '0,10'/],
    [['--classes=-1,2'], /--classes: expected a non-negative integer, but got '-1'/],
    [['--per-class', '0'], /--per-class: expected an integer >= 1, but got '0'/],
    [['--test-per-class', 'x'], /--test-per-class: expected an integer >= 1, but got 'x'/],
    [['--crop-padding=-1'], /--crop-padding: expected a non-negative integer, but got '-1'/],
    [['--epochs', '0'], /--epochs: expected an integer >= 1, but got '0'/],
    [['--epochs', '1.5'], /--epochs: expected an integer >= 1, but got '1.5'/],
    [['--batch', 'many'], /--batch: expected an integer >= 1, but got 'many'/],
    [['--optimizer', 'rmsprop'], /--optimizer: expected one of sgd, adam, adamw, but got 'rmsprop'/],
    [['--lr', '0'], /--lr: expected a positive number, but got '0'/],
    [['--lr', 'fast'], /--lr: expected a positive number, but got 'fast'/],
    [['--lr', 'Infinity'], /--lr: expected a positive number, but got 'Infinity'/],
    [['--momentum', '1.5'], /--momentum: expected a non-negative number <= 1, but got '1.5'/],
    [['--optimizer', 'adam', '--momentum', '0.5'], /--momentum: expected no momentum with adam or adamw.*but got '0.5'/],
    [['--wd=-1e-4'], /--wd: expected a non-negative number, but got '-1e-4'/],
    [['--schedule', 'linear'], /--schedule: expected one of constant, step, multistep, cosine, but got 'linear'/],
    [['--milestones', '2'], /--milestones: expected no milestones unless --schedule multistep, but got '2'/],
    [['--schedule', 'multistep'], /--milestones: expected epochs such as 2,4 with --schedule multistep, but got ''/],
    [['--schedule', 'multistep', '--milestones', '3,3', '--epochs', '5'], /--milestones: expected increasing epochs below --epochs \(5\), but got '3,3'/],
    [['--schedule', 'multistep', '--milestones', '3', '--epochs', '3'], /--milestones: expected increasing epochs below --epochs \(3\), but got '3'/],
    [['--schedule', 'multistep', '--milestones', '2', '--epochs', '5', '--warmup', '2'], /--warmup: expected fewer epochs than the first milestone \(2\), but got '2'/],
    [['--step-size', '2'], /--step-size: expected no step size unless --schedule step, but got '2'/],
    [['--schedule', 'step'], /--step-size: expected a number of epochs with --schedule step, but got ''/],
    [['--gamma', '2'], /--gamma: expected a positive number <= 1, but got '2'/],
    [['--warmup', '8'], /--warmup: expected fewer epochs than --epochs \(8\), but got '8'/],
    [['--warmup', '2', '--epochs', '2'], /--warmup: expected fewer epochs than --epochs \(2\), but got '2'/],
    [['--warmup=-1'], /--warmup: expected a non-negative number, but got '-1'/],
    [['--seed=-1'], /--seed: expected a non-negative integer, but got '-1'/],
    [['--device', 'tpu'], /--device: expected one of cpu, gpu, but got 'tpu'/],
    [['--device', 'gpu', '--threads', '2'], /--threads: expected no thread count with --device gpu, but got '2'/],
    [['--gpu-mode', 'cuda'], /--gpu-mode: expected one of headlessgl, webgl2, webgl, webgpu, cpu, but got 'cuda'/],
    [['--threads', '0'], /--threads: expected an integer >= 1, but got '0'/],
    [['--checkpoint-every', '0'], /--checkpoint-every: expected an integer >= 1, but got '0'/],
    [['--log-every=-2'], /--log-every: expected an integer >= 1, but got '-2'/],
    [['--init', '/nonexistent/w.safetensors'], /--init: expected an existing .safetensors file, but got '\/nonexistent\/w.safetensors' \(not found\)/],
    [['--out='], /--out: expected a value, but got ''/],
    [['--resume='], /--resume: expected a value, but got ''/],
    [['--quiet', '--json'], /--quiet and --json: expected at most one of them, but got both/],
  ];
  it.each(cases.map(([args, re]) => [args.join(' '), args, re] as const))('%s', (_, args, re) => {
    expect(() => parseTrainArgs(args)).toThrow(re);
    try {
      parseTrainArgs(args);
    } catch (e) {
      expect((e as Error).name).toBe('UsageError');
    }
  });
});
