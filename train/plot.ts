// The loss and accuracy curves of a run as one SVG: a Vega-Lite spec (two panels side by side,
// train and test per epoch, plus the --log-every points of the training loss), compiled to Vega
// and rendered headless (renderer 'none' needs no canvas or DOM).
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { MetricsRecord } from './metrics.js';

interface Point {
  epoch: number;
  value: number;
  series: string;
}

/** The points of each panel: x is the epoch (fractional for per-step records). */
function points(records: readonly MetricsRecord[], stepsPerEpoch: number): { loss: Point[]; accuracy: Point[] } {
  const loss: Point[] = [];
  const accuracy: Point[] = [];
  for (const r of records) {
    if (r.type === 'epoch') {
      const x = r.epoch + 1;
      loss.push({ epoch: x, value: r.train_loss, series: 'train' }, { epoch: x, value: r.test_loss, series: 'test' });
      accuracy.push({ epoch: x, value: r.train_accuracy, series: 'train' }, { epoch: x, value: r.test_accuracy, series: 'test' });
    } else {
      const x = r.step / stepsPerEpoch;
      loss.push({ epoch: x, value: r.train_loss, series: 'train (running)' });
      accuracy.push({ epoch: x, value: r.train_accuracy, series: 'train (running)' });
    }
  }
  return { loss, accuracy };
}

export function curvesSpec(title: string, records: readonly MetricsRecord[], stepsPerEpoch: number): TopLevelSpec {
  const { loss, accuracy } = points(records, stepsPerEpoch);
  const present = new Set(loss.map((p) => p.series));
  const domain = ['train', 'test', 'train (running)'].filter((s) => present.has(s));
  const color = { field: 'series', type: 'nominal', title: null, scale: { domain } } as const;
  const panel = (values: Point[], y: string, format?: string) => ({
    width: 320,
    height: 220,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch' },
      y: { field: 'value', type: 'quantitative', title: y, scale: { zero: false }, ...(format ? { axis: { format } } : {}) },
      color,
    },
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    hconcat: [panel(loss, 'cross-entropy loss'), panel(accuracy, 'accuracy', '.0%')],
  } as TopLevelSpec;
}

/** Render the curves to an SVG string. */
export async function curvesSvg(title: string, records: readonly MetricsRecord[], stepsPerEpoch: number): Promise<string> {
  const spec = compile(curvesSpec(title, records, stepsPerEpoch)).spec;
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
