// report.md: what was trained on what, how well and how fast, the curves, the confusion matrix,
// and how to run it again.
import type { EpochRecord, MetricsRecord } from './metrics.js';
import { ConfusionMatrix } from './metrics.js';
import type { MachineInfo } from './run_folder.js';

export interface ReportInput {
  title: string;
  command: string;
  rerun: string;
  started: string;
  machine: MachineInfo;
  threads: string;
  model: { name: string; parameters: number; trainable: number; notes: string[] };
  data: { train: string; test: string };
  optimizer: string;
  records: readonly MetricsRecord[];
  confusion: { classes: string[]; matrix: number[][] };
  timeS: number;
  resumed: boolean;
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
const millions = (n: number) => (n >= 1e5 ? `${(n / 1e6).toFixed(2)} M` : n.toLocaleString('en-US'));

/** Mean training images/s over the epochs (each epoch weighs the same). */
export function meanImagesPerS(records: readonly MetricsRecord[]): number {
  const epochs = records.filter((r): r is EpochRecord => r.type === 'epoch');
  return epochs.length ? epochs.reduce((s, r) => s + r.images_per_s, 0) / epochs.length : 0;
}

export function renderReport(r: ReportInput): string {
  const epochs = r.records.filter((x): x is EpochRecord => x.type === 'epoch');
  const last = epochs.at(-1);
  const best = epochs.reduce<EpochRecord | undefined>((b, e) => (b === undefined || e.test_accuracy > b.test_accuracy ? e : b), undefined);
  const cm = ConfusionMatrix.fromJSON(r.confusion);
  const recall = cm.perClass();
  const lines = [
    `# ${r.title}`,
    '',
    `Started ${r.started}${r.resumed ? ' (resumed from a checkpoint at least once)' : ''}. Command:`,
    '',
    '```sh',
    r.command,
    '```',
    '',
    '## Result',
    '',
    last
      ? `Test accuracy **${pct(last.test_accuracy)}** after ${epochs.length} epochs (best ${pct((best as EpochRecord).test_accuracy)} after epoch ${(best as EpochRecord).epoch + 1}); ` +
        `training accuracy ${pct(last.train_accuracy)}, test loss ${last.test_loss.toFixed(4)}. ` +
        `${r.timeS.toFixed(1)} s in all, ${meanImagesPerS(r.records).toFixed(1)} training images/s.`
      : 'No epoch finished.',
    '',
    '![loss and accuracy](curves.svg)',
    '',
    '| epoch | train loss | train acc | test loss | test acc | lr | images/s | time (s) |',
    '|--:|--:|--:|--:|--:|--:|--:|--:|',
    ...epochs.map(
      (e) =>
        `| ${e.epoch + 1} | ${e.train_loss.toFixed(4)} | ${pct(e.train_accuracy)} | ${e.test_loss.toFixed(4)} | ${pct(e.test_accuracy)} | ${e.lr.toPrecision(3)} | ${e.images_per_s.toFixed(1)} | ${e.time_s.toFixed(1)} |`,
    ),
    '',
    '## Confusion matrix (test set, last epoch)',
    '',
    'Rows: true class; columns: predicted class.',
    '',
    `| true \\ predicted | ${r.confusion.classes.map((_c, i) => `${i}`).join(' | ')} | recall |`,
    `|---|${r.confusion.classes.map(() => '--:').join('|')}|--:|`,
    ...r.confusion.matrix.map((row, i) => `| ${i} ${r.confusion.classes[i]} | ${row.join(' | ')} | ${pct(recall[i] as number)} |`),
    '',
    '## Setup',
    '',
    `- Model: ${r.model.name}, ${millions(r.model.parameters)} parameters (${millions(r.model.trainable)} trainable)${r.model.notes.length ? `; ${r.model.notes.join('; ')}` : ''}`,
    `- Data: train ${r.data.train}; test ${r.data.test}`,
    `- Optimisation: ${r.optimizer}`,
    `- Machine: ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.memoryGiB} GiB, ${r.machine.os}, Node ${r.machine.node}; load average at start ${r.machine.loadAverage.join(' / ')}`,
    `- Threads: ${r.threads}`,
    '',
    '## Files',
    '',
    '- `config.json`: every option, the machine, the exact command',
    '- `metrics.jsonl`: one JSON line per epoch (and per `--log-every` steps)',
    '- `curves.svg`: the loss and accuracy curves',
    '- `confusion.json`: the confusion matrix above',
    '- `model.safetensors`: the final weights (torchvision key names; `--init` takes them)',
    '- `checkpoint/`: weights, optimizer, scheduler, RNG and position, for `--resume`',
    '',
    'Run it again with:',
    '',
    '```sh',
    r.rerun,
    '```',
    '',
  ];
  return lines.join('\n');
}
