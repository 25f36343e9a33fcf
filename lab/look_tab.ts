// The Look tab: (a) the four norms on a real activation, with the axes each one averages over
// drawn on the [N, C, H, W] block and the statistics it computes; (b) the grouped-conv calculator.
import { loadFashionMnist } from '../data/index.js';
import type { NormKind } from '../train/models.js';
import { residualBlockMaps } from './block.js';
import { CALC_LIMITS, groupedConvCost, validGroups } from './calc.js';
import { byId, el, fmtInt, labState } from './dom.js';
import { firstConvActivation, LOOK_WIDTH, NORM_NAMES, type NormStats, normStats } from './norms.js';

const SVG = 'http://www.w3.org/2000/svg';

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text = ''): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text) e.textContent = text;
  return e;
}

/**
 * The block [N, C, H×W] drawn with N across, C down and H×W as depth; the cells of one group
 * (the first: image 0 and/or channel 0) are filled. Every norm reduces over H and W, so a group
 * always runs through the whole depth.
 */
function drawCube(stats: NormStats, n: number, c: number, groups: number): SVGSVGElement {
  const s = 20;
  const [dx, dy] = [44, -30];
  const [x0, y0] = [40, 50];
  const per = stats.kind === 'gn' ? c / groups : 1;
  const inGroup = (ni: number, ci: number): boolean =>
    stats.kind === 'bn' ? ci === 0 : stats.kind === 'ln' ? ni === 0 : stats.kind === 'in' ? ni === 0 && ci === 0 : ni === 0 && ci < per;
  const root = svg('svg', { width: x0 + n * s + dx + 40, height: y0 + c * s + 40, role: 'img', 'aria-labelledby': 'cube-caption' });
  const fill = (on: boolean, shade: number) => (on ? ['#e66100', '#f08a3e', '#c55200'][shade] : ['#e8eef7', '#d5deea', '#c3cfdf'][shade]) as string;
  for (let ni = 0; ni < n; ni++) {
    for (let ci = 0; ci < c; ci++) {
      const x = x0 + ni * s;
      const y = y0 + ci * s;
      const on = inGroup(ni, ci);
      if (ci === 0) root.append(svg('polygon', { points: `${x},${y} ${x + s},${y} ${x + s + dx},${y + dy} ${x + dx},${y + dy}`, fill: fill(on, 1), stroke: '#667' }));
      if (ni === n - 1) root.append(svg('polygon', { points: `${x + s},${y} ${x + s + dx},${y + dy} ${x + s + dx},${y + s + dy} ${x + s},${y + s}`, fill: fill(on, 2), stroke: '#667' }));
      root.append(svg('rect', { x, y, width: s, height: s, fill: fill(on, 0), stroke: '#667' }));
    }
  }
  root.append(
    svg('text', { x: x0 + (n * s) / 2, y: y0 + c * s + 16, 'text-anchor': 'middle' }, `N (${n} images)`),
    svg('text', { x: x0 - 8, y: y0 + (c * s) / 2, 'text-anchor': 'end' }, `C (${c})`),
    svg('text', { x: x0 + n * s + dx + 4, y: y0 + dy + 12 }, 'H, W'),
  );
  return root;
}

/** One canvas per channel and row, each channel on one grey scale shared by the four rows. */
function drawBlock(test: Parameters<typeof residualBlockMaps>[0]): void {
  const b = residualBlockMaps(test);
  const plane = b.height * b.width;
  const tbody = byId('block-maps').querySelector('tbody') as HTMLTableSectionElement;
  const lo = new Float32Array(b.channels).fill(Number.POSITIVE_INFINITY);
  const hi = new Float32Array(b.channels).fill(Number.NEGATIVE_INFINITY);
  for (const r of b.rows) {
    for (let i = 0; i < r.maps.length; i++) {
      const c = Math.floor(i / plane);
      lo[c] = Math.min(lo[c] as number, r.maps[i] as number);
      hi[c] = Math.max(hi[c] as number, r.maps[i] as number);
    }
  }
  tbody.replaceChildren(
    ...b.rows.map((r) => {
      const row = el('tr');
      row.append(el('th', r.name, { scope: 'row' }));
      for (let c = 0; c < b.channels; c++) {
        const canvas = el('canvas', '', { width: String(b.width), height: String(b.height), role: 'img', 'aria-label': `${r.name}, channel ${c}` });
        const ctx = canvas.getContext('2d');
        if (ctx) {
          const img = ctx.createImageData(b.width, b.height);
          const span = (hi[c] as number) - (lo[c] as number) || 1;
          for (let p = 0; p < plane; p++) {
            const v = Math.round((255 * ((r.maps[c * plane + p] as number) - (lo[c] as number))) / span);
            img.data.set([v, v, v, 255], p * 4);
          }
          ctx.putImageData(img, 0, 0);
        }
        const cell = el('td');
        cell.append(canvas);
        row.append(cell);
      }
      return row;
    }),
  );
  const pct = (v: number) => `${(100 * v).toFixed(0)}%`;
  byId('block-summary').textContent =
    `Correlation of the output with the block's input: ${b.keepsInput.withShortcut.toFixed(2)} with the shortcut, ${b.keepsInput.withoutShortcut.toFixed(2)} without. ` +
    `The final ReLU zeroes ${pct(b.zeroed.withShortcut)} of the outputs with the shortcut and ${pct(b.zeroed.withoutShortcut)} without: ` +
    'the shortcut carries x through untouched, so the block only has to learn a correction F(x) to it. ' +
    `(relu(F(x) + x) vs layer1.0's own forward: largest difference ${b.maxDiffFromBlock.toExponential(1)}.)`;
}

async function setupNorms(): Promise<void> {
  const test = await loadFashionMnist({ split: 'test', source: 'subset' });
  drawBlock(test);
  const act = firstConvActivation(test);
  const [n, c, h, w] = act.shape as number[];
  byId('norm-intro').textContent = `x = the first conv of a ResNet-8 (width ${LOOK_WIDTH}, seed 0) on the first ${n} test images: shape [N, C, H, W] = [${n}, ${c}, ${h}, ${w}].`;
  const normSel = byId<HTMLSelectElement>('look-norm');
  const groupSel = byId<HTMLSelectElement>('look-groups');
  for (let g = 1; g <= c; g++) if (c % g === 0) groupSel.append(el('option', String(g), { value: String(g) }));
  groupSel.value = '2';
  const render = () => {
    const kind = normSel.value as NormKind;
    const groups = Number(groupSel.value);
    groupSel.disabled = kind !== 'gn';
    const st = normStats(act, kind, groups);
    const count = st.labels.length;
    byId('cube').replaceChildren(drawCube(st, n as number, c as number, groups));
    byId('cube-caption').textContent =
      `${NORM_NAMES[kind]} averages over ${st.reduced.join(', ')}${kind === 'gn' ? ` (C within a group)` : ''}: ` +
      `a group is ${st.groupOf}; ${count} groups of ${fmtInt(st.groupSize)} elements. The first group is filled.`;
    byId('norm-check').textContent = `(x − mean) / √(var + 1e-5) with these statistics vs ${st.fn}: largest difference ${st.maxDiff.toExponential(1)}.`;
    const tbody = byId('norm-table').querySelector('tbody') as HTMLTableSectionElement;
    tbody.replaceChildren(
      ...st.labels.map((label, i) => {
        const row = el('tr');
        row.append(el('td', label), el('td', (st.mean[i] as number).toFixed(4)), el('td', (st.variance[i] as number).toFixed(4)));
        return row;
      }),
    );
  };
  normSel.addEventListener('change', render);
  groupSel.addEventListener('change', render);
  render();
}

function setupCalculator(): void {
  const ids = ['calc-cin', 'calc-cout', 'calc-h', 'calc-w'];
  const slider = byId<HTMLInputElement>('calc-groups');
  const out = byId('calc-out');
  const tbody = byId('calc-table').querySelector('tbody') as HTMLTableSectionElement;
  let groupsList: number[] = [1];
  const read = () => ids.map((id) => Number(byId<HTMLInputElement>(id).value)) as [number, number, number, number];
  const update = (fromSlider: boolean) => {
    const [cin, cout, h, w] = read();
    try {
      const wanted = fromSlider ? undefined : groupsList[Number(slider.value)];
      groupsList = validGroups(cin, cout);
      if (!fromSlider) slider.value = String(Math.max(0, groupsList.indexOf(wanted ?? 1)));
      slider.max = String(groupsList.length - 1);
      const g = groupsList[Number(slider.value)] ?? 1;
      const costs = groupsList.map((k) => groupedConvCost(cin, cout, h, w, k));
      const base = costs[0];
      const cur = costs.find((k) => k.groups === g);
      if (!base || !cur) return;
      slider.setAttribute('aria-valuetext', `${g} groups`);
      out.textContent = `groups = ${g}: ${fmtInt(cur.params)} parameters, ${fmtInt(cur.macs)} multiply-adds per image (1/${base.macs / cur.macs} of groups = 1)`;
      tbody.replaceChildren(
        ...costs.map((k) => {
          const row = el('tr', '', k.groups === g ? { 'aria-current': 'true', class: 'current' } : {});
          row.append(el('td', String(k.groups)), el('td', String(k.fanInChannels)), el('td', fmtInt(k.params)), el('td', fmtInt(k.macs)), el('td', `1/${base.macs / k.macs}`));
          return row;
        }),
      );
    } catch (e) {
      out.textContent = `${(e as Error).message} (C up to ${CALC_LIMITS.channels}, H and W up to ${CALC_LIMITS.size})`;
    }
  };
  for (const id of ids) byId(id).addEventListener('input', () => update(false));
  slider.addEventListener('input', () => update(true));
  update(false);
}

export async function setupLook(): Promise<void> {
  setupCalculator();
  await setupNorms();
  labState.lookDone = true;
}
