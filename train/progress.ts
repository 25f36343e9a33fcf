// How a run shows itself: a progress bar on a terminal (cli-progress: loss, accuracy, images/s,
// ETA), one plain line per epoch when the output is a file or a pipe, JSON lines for programs,
// or nothing (--quiet).
import cliProgress from 'cli-progress';
import type { EpochRecord, StepRecord } from './metrics.js';

export interface StepInfo {
  epoch: number;
  /** Batches done in this epoch. */
  batch: number;
  loss: number;
  accuracy: number;
  imagesPerS: number;
  lr: number;
  /** Seconds of training left in the whole run, at this epoch's pace (evaluations not counted). */
  runEtaS: number;
}

export interface Reporter {
  /** A line of information (the model, the data, notes). */
  info(text: string): void;
  epochStart(epoch: number, epochs: number, batches: number, startBatch: number): void;
  step(s: StepInfo): void;
  /** A --log-every record. */
  logged(r: StepRecord): void;
  epochEnd(r: EpochRecord, epochs: number): void;
  /** The end: a text block for people, and the summary object for --json. */
  done(text: string, summary: Record<string, unknown>): void;
  /** Stop drawing (before an early exit). */
  close(): void;
}

type Write = (s: string) => void;

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

/** 83 -> '1m23s', 4000 -> '1h06m'. */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** The plain line of an epoch (also the bar's epoch summary). */
export function epochLine(r: EpochRecord, epochs: number): string {
  return (
    `epoch ${r.epoch + 1}/${epochs}  train loss ${r.train_loss.toFixed(4)} acc ${pct(r.train_accuracy)}  ` +
    `test loss ${r.test_loss.toFixed(4)} acc ${pct(r.test_accuracy)}  lr ${r.lr.toPrecision(3)}  ` +
    `${r.images_per_s.toFixed(1)} img/s  ${r.time_s.toFixed(1)} s`
  );
}

/** Lines on `out`, one per epoch: for logs and pipes. */
export class LineReporter implements Reporter {
  constructor(private readonly out: Write) {}
  info(text: string): void {
    this.out(`${text}\n`);
  }
  epochStart(): void {}
  step(): void {}
  logged(r: StepRecord): void {
    this.out(`  step ${r.step}  loss ${r.train_loss.toFixed(4)} acc ${pct(r.train_accuracy)}  ${r.images_per_s.toFixed(1)} img/s\n`);
  }
  epochEnd(r: EpochRecord, epochs: number): void {
    this.out(`${epochLine(r, epochs)}\n`);
  }
  done(text: string): void {
    this.out(`${text}\n`);
  }
  close(): void {}
}

/** A bar per epoch on a terminal; the epoch's line stays when the bar is done. */
export class BarReporter implements Reporter {
  private bar: cliProgress.SingleBar | null = null;
  constructor(
    private readonly out: Write,
    private readonly stream: NodeJS.WritableStream,
  ) {}
  info(text: string): void {
    this.out(`${text}\n`);
  }
  epochStart(epoch: number, epochs: number, batches: number, startBatch: number): void {
    this.close();
    this.bar = new cliProgress.SingleBar(
      {
        stream: this.stream,
        format: `epoch ${epoch + 1}/${epochs} {bar} {value}/{total} | loss {loss} | acc {acc} | {ips} img/s | epoch ETA {eta_formatted} | run ETA {runEta}`,
        barsize: 24,
        hideCursor: true,
        clearOnComplete: true,
        etaBuffer: 20,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(batches, startBatch, { loss: '-', acc: '-', ips: '-', runEta: '-' });
  }
  step(s: StepInfo): void {
    this.bar?.update(s.batch, { loss: s.loss.toFixed(4), acc: pct(s.accuracy), ips: s.imagesPerS.toFixed(1), runEta: clock(s.runEtaS) });
  }
  logged(): void {}
  epochEnd(r: EpochRecord, epochs: number): void {
    this.close();
    this.out(`${epochLine(r, epochs)}\n`);
  }
  done(text: string): void {
    this.close();
    this.out(`${text}\n`);
  }
  close(): void {
    this.bar?.stop();
    this.bar = null;
  }
}

/** One JSON object per line on `out`: {"type":"epoch",...}, {"type":"step",...}, {"type":"done",...}. */
export class JsonReporter implements Reporter {
  constructor(private readonly out: Write) {}
  info(): void {}
  epochStart(): void {}
  step(): void {}
  logged(r: StepRecord): void {
    this.out(`${JSON.stringify(r)}\n`);
  }
  epochEnd(r: EpochRecord): void {
    this.out(`${JSON.stringify(r)}\n`);
  }
  done(_text: string, summary: Record<string, unknown>): void {
    this.out(`${JSON.stringify({ type: 'done', ...summary })}\n`);
  }
  close(): void {}
}

/** --quiet: only the last line (where the report is). */
export class QuietReporter implements Reporter {
  constructor(private readonly out: Write) {}
  info(): void {}
  epochStart(): void {}
  step(): void {}
  logged(): void {}
  epochEnd(): void {}
  done(text: string): void {
    const last = text.trimEnd().split('\n').at(-1) ?? '';
    this.out(`${last}\n`);
  }
  close(): void {}
}
