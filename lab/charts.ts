// Charts drawn by vega-lite (compiled to vega, rendered as SVG into the page). A chart is made
// once; rows stream into its named dataset, and vega redraws.
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export interface LiveChart {
  /** Append rows to the chart's dataset and redraw. */
  add(rows: Record<string, unknown>[]): Promise<void>;
  /** Drop every row. */
  clear(): Promise<void>;
}

async function liveChart(container: HTMLElement, spec: TopLevelSpec, dataset: string): Promise<LiveChart> {
  container.replaceChildren();
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'svg', container, hover: true });
  await view.runAsync();
  return {
    async add(rows) {
      await view.change(dataset, vega.changeset().insert(rows)).resize().runAsync();
    },
    async clear() {
      await view.change(dataset, vega.changeset().remove(() => true)).resize().runAsync();
    },
  };
}

/** Loss and batch accuracy per step: two lines, one y axis each. Rows: { step, loss, accuracy }. */
export function trainingChart(container: HTMLElement): Promise<LiveChart> {
  const x = { field: 'step', type: 'quantitative', title: 'step', axis: { tickMinStep: 1, format: 'd' } } as const;
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 560,
    height: 220,
    data: { name: 'steps' },
    layer: [
      { mark: { type: 'line', color: '#1a5fb4' }, encoding: { x, y: { field: 'loss', type: 'quantitative', title: 'loss (cross-entropy)', axis: { titleColor: '#1a5fb4' } } } },
      {
        mark: { type: 'line', color: '#c64600', strokeDash: [4, 3] },
        encoding: { x, y: { field: 'accuracy', type: 'quantitative', title: 'batch accuracy', scale: { domain: [0, 1] }, axis: { titleColor: '#c64600' } } },
      },
    ],
    resolve: { scale: { y: 'independent' } },
  };
  return liveChart(container, spec, 'steps');
}

/** GFLOP/s bars: a group per kernel, a bar per path. Rows: { kernel, path, gflops }. */
export function raceChart(container: HTMLElement): Promise<LiveChart> {
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    data: { name: 'results' },
    mark: 'bar',
    width: 480,
    height: { step: 10 },
    encoding: {
      y: { field: 'kernel', type: 'nominal', title: null, sort: null },
      yOffset: { field: 'path', type: 'nominal', sort: null },
      x: { field: 'gflops', type: 'quantitative', title: 'GFLOP/s' },
      color: { field: 'path', type: 'nominal', sort: null, title: 'path' },
      tooltip: [{ field: 'kernel' }, { field: 'path' }, { field: 'gflops', format: '.2f' }],
    },
  };
  return liveChart(container, spec, 'results');
}
