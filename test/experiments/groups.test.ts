// groups on the tiny budget: the report's structure, its numbers against results.json, the
// bottleneck's parameters and multiply-adds by hand, and the whole-model parameter counts against
// torchvision's (the PyTorch oracle, /usr/bin/python3 with torchvision 0.14).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../experiments/cli.js';
import { formatNumber, formatPercent } from '../../experiments/framework.js';
import { type BlockRow, TEMPLATES, type TrainRow, bottleneckResNetParams, cifarConfigs } from '../../experiments/groups.js';
import { models } from '../../index.js';

const dir = join(mkdtempSync(join(tmpdir(), 'resgrad-exp-groups-')), 'out');
let md = '';
let results: {
  data: {
    plan: { batch: number; spatial: number; depth: number };
    blocks: BlockRow[];
    whole: { model: string; params: number; built: number | null }[];
    trained: TrainRow[];
  };
};

beforeAll(async () => {
  const lines: string[] = [];
  const code = await main(['groups', '--tiny', '--out', dir, '--threads', '1'], { out: (l) => lines.push(l), err: (l) => lines.push(l) });
  expect(code, lines.join('\n')).toBe(0);
  md = readFileSync(join(dir, 'report.md'), 'utf8');
  results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
}, 180_000);
afterAll(() => rmSync(join(dir, '..'), { recursive: true, force: true }));

const countParams = (m: { parameters(): { numel(): number }[] }) => m.parameters().reduce((n, p) => n + p.numel(), 0);

describe('groups --tiny', () => {
  it('writes report.md, two SVG plots with marks and results.json', () => {
    expect(readdirSync(dir).sort()).toEqual(['accuracy-vs-groups.svg', 'macs-vs-time.svg', 'report.md', 'results.json']);
    for (const [f, mark] of [
      ['macs-vs-time.svg', 'mark-rect'],
      ['accuracy-vs-groups.svg', 'mark-line'],
    ]) {
      const svg = readFileSync(join(dir, f!), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg).toContain(`class="${mark} role-mark`);
      expect(md).toContain(`](${f})`);
    }
    const headings = md.split('\n').filter((l) => l.startsWith('#'));
    expect(headings).toEqual([
      '# Choosing the number of groups: parameters, multiply-adds, time and accuracy',
      '## One bottleneck, six templates',
      '## Whole models',
      '## Equal-budget training',
      '## How this was made',
    ]);
  });

  it("the bottleneck's parameters and multiply-adds match the count by hand, and the table prints them", () => {
    const { blocks, plan } = results.data;
    expect(blocks.map((b) => b.template)).toEqual(TEMPLATES.map((t) => t.name));
    for (const b of blocks) {
      const t = TEMPLATES.find((x) => x.name === b.template)!;
      const w = t.groups * t.d;
      expect(b.width).toBe(w);
      // 1×1 256->w, 3×3 w->w in C groups, 1×1 w->256; BN's γ and β after each
      const convWeights = 256 * w + (9 * w * w) / t.groups + w * 256;
      expect(b.params).toBe(convWeights + 2 * w + 2 * w + 2 * 256);
      // one multiply-add per weight per output pixel (stride 1: every conv has spatial² outputs)
      expect(b.macs).toBe(convWeights * plan.spatial * plan.spatial * plan.batch);
      expect(md).toContain(
        `| ${b.template} | ${b.groups} | ${w} | ${b.params} | ${formatNumber(b.macs / 1e6)} | ${formatNumber(b.forwardMs)} | ${formatNumber(b.trainStepMs)} | ${formatNumber(b.forwardGmacs)} |`,
      );
    }
  });

  it("resnet50's and resnext50_32x4d's parameter counts are torchvision's; the shape count matches resgrad's models", () => {
    const script = [
      'import json, torchvision.models as m',
      "print(json.dumps({n: sum(p.numel() for p in getattr(m, n)().parameters()) for n in ['resnet50', 'resnext50_32x4d']}))",
    ].join('\n');
    const torch = JSON.parse(execFileSync('/usr/bin/python3', ['-c', script], { encoding: 'utf8' })) as Record<string, number>;
    for (const w of results.data.whole) {
      expect(w.params).toBe(torch[w.model]);
      expect(md).toContain(`| ${w.model} |`);
      expect(md).toContain(`| ${w.params} | not built (tiny budget) |`);
    }
    // the shape count against a (small) resgrad model built from the same blocks
    const small = new models.ResNet(models.Bottleneck, [1, 2, 1, 1], { groups: 2, widthPerGroup: 2, numClasses: 7, inChannels: 1 });
    expect(countParams(small)).toBe(bottleneckResNetParams([1, 2, 1, 1], 2, 2, 7, 1));
  });

  it('trains every CIFAR template with its parameters as built, and the text quotes the accuracies', () => {
    const { trained, plan } = results.data;
    const configs = cifarConfigs(plan.depth);
    expect(trained.map((t) => [t.name, t.groups, t.width, t.params])).toEqual(configs.map((c) => [c.name, c.groups, c.width, c.params]));
    for (const t of trained) {
      expect(t.params).toBe(countParams(models.cifarResNet(plan.depth, { inChannels: 1, groups: t.groups, width: t.width })));
      expect(t.width % t.groups).toBe(0);
      expect(t.testAccuracy).toBeGreaterThanOrEqual(0);
      expect(t.testAccuracy).toBeLessThanOrEqual(1);
      const gap = `${formatNumber((t.params / trained[0]!.params - 1) * 100)}%`;
      expect(md).toContain(`| ${t.name} | ${t.groups} | ${t.width} | ${t.params} | ${gap} | ${formatNumber(t.macs / 1e6)} |`);
    }
    const best = trained.reduce((a, b) => (b.testAccuracy > a.testAccuracy ? b : a));
    expect(md).toContain(`to ${formatPercent(best.testAccuracy)} (${best.name})`);
    // the last template is depthwise: groups = width
    expect(trained.at(-1)!.groups).toBe(trained.at(-1)!.width);
  });
});
