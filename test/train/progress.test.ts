// What a run prints: a progress bar on a terminal, plain lines elsewhere, JSON lines for programs,
// one line with --quiet.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { EpochRecord, StepRecord } from '../../train/metrics.js';
import { BarReporter, JsonReporter, LineReporter, QuietReporter, type Reporter, clock, epochLine } from '../../train/progress.js';

const record: EpochRecord = {
  type: 'epoch', epoch: 0, step: 4, train_loss: 0.75, train_accuracy: 0.625, test_loss: 0.5, test_accuracy: 0.8125, lr: 0.05, images_per_s: 123.45, time_s: 9.5,
};
const logged: StepRecord = { type: 'step', epoch: 0, step: 2, train_loss: 1.5, train_accuracy: 0.5, lr: 0.1, images_per_s: 100, time_s: 1 };

function capture(tty: boolean): { stream: Writable & { isTTY?: boolean }; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk, _e, cb) {
      text += String(chunk);
      cb();
    },
  }) as Writable & { isTTY?: boolean; columns?: number };
  if (tty) {
    stream.isTTY = true;
    stream.columns = 160;
  }
  return { stream, text: () => text };
}

/** Two epochs of two steps, a logged step, the end. */
function play(r: Reporter): void {
  r.info('training cifarResNet8');
  for (const epoch of [0, 1]) {
    r.epochStart(epoch, 2, 2, 0);
    r.step({ epoch, batch: 1, loss: 1.5, accuracy: 0.5, imagesPerS: 100, lr: 0.1, runEtaS: 83 });
    if (epoch === 0) r.logged(logged);
    r.step({ epoch, batch: 2, loss: 0.75, accuracy: 0.625, imagesPerS: 123.45, lr: 0.05, runEtaS: 40 });
    r.epochEnd({ ...record, epoch }, 2);
  }
  r.done('confusion ...\nreport: runs/x/report.md', { report: 'runs/x/report.md' });
}

describe('train progress', () => {
  it('the epoch line: losses, accuracies, lr, images/s, time', () => {
    expect(epochLine(record, 3)).toBe('epoch 1/3  train loss 0.7500 acc 62.50%  test loss 0.5000 acc 81.25%  lr 0.0500  123.5 img/s  9.5 s');
  });

  it('clock: seconds, minutes, hours', () => {
    expect([clock(7.4), clock(83), clock(4000), clock(-1)]).toEqual(['7s', '1m23s', '1h06m', '0s']);
  });

  it('on a terminal: a bar per epoch with loss, accuracy, images/s and ETAs, replaced by the epoch line', () => {
    const out = capture(false);
    const err = capture(true);
    play(new BarReporter((s) => out.stream.write(s), err.stream));
    expect(err.text()).toContain('epoch 1/2 ');
    expect(err.text()).toContain('| loss 0.7500 | acc 62.50% | 123.5 img/s | epoch ETA');
    expect(err.text()).toContain('run ETA 40s');
    expect(err.text()).toContain('\x1B[?25l'); // the cursor hidden while drawing
    expect(out.text()).toBe(`training cifarResNet8\n${epochLine(record, 2)}\n${epochLine({ ...record, epoch: 1 }, 2)}\nconfusion ...\nreport: runs/x/report.md\n`);
  });

  it('elsewhere: plain lines, one per epoch (and per logged step), no escape codes', () => {
    const out = capture(false);
    play(new LineReporter((s) => out.stream.write(s)));
    expect(out.text().split('\n')).toEqual([
      'training cifarResNet8',
      '  step 2  loss 1.5000 acc 50.00%  100.0 img/s',
      epochLine(record, 2),
      epochLine({ ...record, epoch: 1 }, 2),
      'confusion ...',
      'report: runs/x/report.md',
      '',
    ]);
  });

  it('--json: one object a line (logged steps, epochs, then done); --quiet: only where the report is', () => {
    const json = capture(false);
    play(new JsonReporter((s) => json.stream.write(s)));
    const objects = json.text().trim().split('\n').map((l) => JSON.parse(l));
    expect(objects).toEqual([logged, record, { ...record, epoch: 1 }, { type: 'done', report: 'runs/x/report.md' }]);
    const quiet = capture(false);
    play(new QuietReporter((s) => quiet.stream.write(s)));
    expect(quiet.text()).toBe('report: runs/x/report.md\n');
  });
});
