// What a run measures: a line of metrics.jsonl per epoch (and per --log-every steps), and the
// confusion matrix of an evaluation (rows: true class, columns: predicted class).

/** One line of metrics.jsonl at the end of an epoch. */
export interface EpochRecord {
  type: 'epoch';
  epoch: number;
  step: number;
  /** Mean cross-entropy and accuracy over the epoch's training batches (in training mode). */
  train_loss: number;
  train_accuracy: number;
  test_loss: number;
  test_accuracy: number;
  /** The learning rate of the epoch's last step. */
  lr: number;
  /** Training images per second over the epoch (evaluation not included). */
  images_per_s: number;
  /** Seconds since the run started (summed over resumed parts), at the end of the evaluation. */
  time_s: number;
}

/** One line of metrics.jsonl every --log-every steps: the running means of the epoch so far. */
export interface StepRecord {
  type: 'step';
  epoch: number;
  step: number;
  train_loss: number;
  train_accuracy: number;
  lr: number;
  images_per_s: number;
  time_s: number;
}

export type MetricsRecord = EpochRecord | StepRecord;

/** Sums over the batches seen so far in an epoch (part of the checkpoint, for exact resume). */
export interface RunningSums {
  lossSum: number;
  correct: number;
  seen: number;
}

export const emptySums = (): RunningSums => ({ lossSum: 0, correct: 0, seen: 0 });

/** A k x k count matrix: counts[t][p] images of true class t predicted as p. */
export class ConfusionMatrix {
  readonly counts: number[][];
  constructor(readonly classes: readonly string[]) {
    this.counts = classes.map(() => classes.map(() => 0));
  }

  add(truth: ArrayLike<number>, predicted: ArrayLike<number>): void {
    for (let i = 0; i < truth.length; i++) {
      const row = this.counts[truth[i] as number] as number[];
      const p = predicted[i] as number;
      row[p] = (row[p] as number) + 1;
    }
  }

  get total(): number {
    return this.counts.reduce((s, row) => s + row.reduce((a, b) => a + b, 0), 0);
  }

  get accuracy(): number {
    const right = this.counts.reduce((s, row, i) => s + (row[i] as number), 0);
    return this.total ? right / this.total : 0;
  }

  /** Recall per class: the share of each true class predicted right. */
  perClass(): number[] {
    return this.counts.map((row, i) => {
      const n = row.reduce((a, b) => a + b, 0);
      return n ? (row[i] as number) / n : 0;
    });
  }

  toJSON(): { classes: string[]; matrix: number[][]; accuracy: number; per_class_accuracy: number[] } {
    return { classes: [...this.classes], matrix: this.counts.map((r) => [...r]), accuracy: this.accuracy, per_class_accuracy: this.perClass() };
  }

  static fromJSON(j: { classes: string[]; matrix: number[][] }): ConfusionMatrix {
    const m = new ConfusionMatrix(j.classes);
    j.matrix.forEach((row, t) => {
      row.forEach((v, p) => {
        (m.counts[t] as number[])[p] = v;
      });
    });
    return m;
  }

  /** A fixed-width table: one row per true class, a column per prediction, recall at the end. */
  toText(): string {
    const short = this.classes.map((c) => c.slice(0, 7));
    const w = Math.max(5, ...this.counts.flat().map((v) => String(v).length + 1));
    const label = Math.max(...this.classes.map((c) => c.length), 16);
    const head = `${'true \\ predicted'.padEnd(label)} ${short.map((c) => c.padStart(Math.max(w, c.length))).join(' ')}  recall`;
    const rows = this.counts.map(
      (row, i) =>
        `${(this.classes[i] as string).padEnd(label)} ${row.map((v, j) => String(v).padStart(Math.max(w, (short[j] as string).length))).join(' ')}  ${(100 * (this.perClass()[i] as number)).toFixed(1).padStart(5)}%`,
    );
    return [head, ...rows].join('\n');
  }
}
