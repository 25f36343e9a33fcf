// The lab's Node-side pieces (the page itself is driven in Chromium by test/gpu/lab.test.ts):
// the norms' statistics against PyTorch 1.13 (called once at test time), the grouped-conv
// calculator against the model summary, the CPU JS path staying off WASM, the race refusing a
// wrong result, and the server's headers and paths.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nn, summary, type Tensor, variants, zeros } from '../../index.js';
import { loadFashionMnist } from '../../data/index.js';
import { residualBlockMaps } from '../../lab/block.js';
import { groupedConvCost, validGroups } from '../../lab/calc.js';
import { parseLabArgs } from '../../lab/cli.js';
import { firstConvActivation, normStats } from '../../lab/norms.js';
import { onCpuPath } from '../../lab/paths.js';
import { caseInputs, raceCase, raceOn, referenceOutput } from '../../lab/race.js';
import { resolveRequest, startLabServer } from '../../lab/server.js';
import { checkConfig, DEFAULT_CONFIG, LabRun } from '../../lab/trainer.js';
import { ValueError } from '../../core/errors.js';
import { UsageError } from '../../train/models.js';

describe('Look: the four norms on the first conv of ResNet-8', () => {
  let act: Tensor;
  // torch 1.13 on the same activation: mean and biased variance over each norm's axes
  const PY = `
import json, sys, torch
d = json.load(sys.stdin)
x = torch.tensor(d['data'], dtype=torch.float32).reshape(d['shape'])
N, C, H, W = x.shape
views = {'bn': (x.permute(1, 0, 2, 3).reshape(C, -1), 1), 'ln': (x.reshape(N, -1), 1), 'in': (x.reshape(N * C, -1), 1),
         'gn2': (x.reshape(N * 2, -1), 1), 'gn4': (x.reshape(N * 4, -1), 1)}
print(json.dumps({k: {'mean': v.mean(dim).tolist(), 'var': v.var(dim, unbiased=False).tolist()} for k, (v, dim) in views.items()}))
`;
  let torch: Record<string, { mean: number[]; var: number[] }>;

  beforeAll(async () => {
    act = firstConvActivation(await loadFashionMnist({ split: 'test', source: 'subset' }));
    const input = JSON.stringify({ data: Array.from(act.toArray() as Float32Array), shape: act.shape });
    torch = JSON.parse(execFileSync('/usr/bin/python3', ['-c', PY], { input, maxBuffer: 1 << 26 }).toString());
  });

  const cases = [
    { kind: 'bn', groups: 2, key: 'bn', count: 8, reduced: ['N', 'H', 'W'] },
    { kind: 'ln', groups: 2, key: 'ln', count: 4, reduced: ['C', 'H', 'W'] },
    { kind: 'in', groups: 2, key: 'in', count: 32, reduced: ['H', 'W'] },
    { kind: 'gn', groups: 2, key: 'gn2', count: 8, reduced: ['C', 'H', 'W'] },
    { kind: 'gn', groups: 4, key: 'gn4', count: 16, reduced: ['C', 'H', 'W'] },
  ] as const;
  for (const c of cases) {
    it(`${c.key} x=[4,8,28,28]: per-group mean and variance as torch's, and they normalise as the engine's norm does`, () => {
      const st = normStats(act, c.kind, c.groups);
      expect(act.shape).toEqual([4, 8, 28, 28]);
      expect(st.reduced).toEqual(c.reduced);
      expect(st.labels.length).toBe(c.count);
      expect(st.groupSize * c.count).toBe(act.numel());
      const want = torch[c.key] as { mean: number[]; var: number[] };
      expect(want.mean.length).toBe(c.count);
      // float32 sums of 1,568..25,088 values in two orders: 1e-6 absolute on values of ~0.01-0.5
      for (let i = 0; i < c.count; i++) {
        expect(Math.abs((st.mean[i] as number) - (want.mean[i] as number)), `mean ${st.labels[i]}`).toBeLessThan(1e-6);
        expect(Math.abs((st.variance[i] as number) - (want.var[i] as number)), `var ${st.labels[i]}`).toBeLessThan(1e-6);
      }
      // (x - mean)/sqrt(var + eps) vs F.*Norm, both float32 on O(1) outputs
      expect(st.maxDiff).toBeLessThan(1e-5);
    });
  }

  it('GroupNorm refuses a group count that does not divide C', () => {
    expect(() => normStats(act, 'gn', 3)).toThrow(/groups must divide the 8 channels, but got 3/);
  });
});

describe('Look: a residual block with and without its shortcut', () => {
  it('layer1.0 of ResNet-8 x=[4,8,28,28]: relu(F(x) + x) is the block\'s own forward, relu(F(x)) its plain twin', async () => {
    const b = residualBlockMaps(await loadFashionMnist({ split: 'test', source: 'subset' }));
    expect([b.channels, b.height, b.width]).toEqual([8, 28, 28]);
    const [x, f, withShortcut, without] = b.rows.map((r) => r.maps) as Float32Array[];
    expect(b.maxDiffFromBlock).toBe(0);
    // float32 adds: the float64 sum of two float32s rounds to the same float32
    for (let i = 0; i < (x as Float32Array).length; i++) {
      expect(withShortcut?.[i]).toBe(Math.max(0, Math.fround((f?.[i] as number) + (x?.[i] as number))));
      expect(without?.[i]).toBe(Math.max(0, f?.[i] as number));
    }
    expect(b.keepsInput.withShortcut).toBeGreaterThan(b.keepsInput.withoutShortcut);
  });
});

describe('Look: grouped-conv calculator', () => {
  it('matches the model summary of an nn.Conv2d for every valid group count', () => {
    for (const [cin, cout, h, w] of [[64, 64, 28, 28], [12, 18, 7, 9], [1, 5, 3, 3]] as const) {
      for (const g of validGroups(cin, cout)) {
        const cost = groupedConvCost(cin, cout, h, w, g);
        const s = summary(new nn.Conv2d(cin, cout, 3, { padding: 1, groups: g, bias: false }), zeros([1, cin, h, w]));
        expect(cost.params, `params C=${cin}->${cout} g=${g}`).toBe(s.totalParams);
        expect(cost.macs, `MACs C=${cin}->${cout} ${h}x${w} g=${g}`).toBe(s.totalMacs);
        expect(cost.fanInChannels).toBe(cin / g);
      }
    }
  });
  it('lists the common divisors as group counts and names bad input', () => {
    expect(validGroups(12, 18)).toEqual([1, 2, 3, 6]);
    expect(() => groupedConvCost(64, 64, 28, 28, 5)).toThrow(/groups must divide both C_in \(64\) and C_out \(64\), but got 5/);
    expect(() => validGroups(0, 4)).toThrow(/C_in must be an integer from 1 to 256, but got 0/);
    expect(() => groupedConvCost(4, 4, 2.5, 4, 1)).toThrow(/H must be an integer from 1 to 128, but got 2.5/);
  });
});

describe('Train: the CPU paths', () => {
  const config = { ...DEFAULT_CONFIG, width: 4, batch: 4, steps: 2, norm: 'gn' as const };

  /** The kernel variants one training step ran on `path`. */
  async function variantsOfStep(path: 'js' | 'wasm'): Promise<string[]> {
    const ds = await loadFashionMnist({ split: 'test', source: 'subset' });
    const used = new Set<string>();
    const run = new LabRun(config, ds, 'cpu', (fn) =>
      onCpuPath(path, () => {
        const t = variants.trace(fn);
        for (const [k, vs] of t.used) for (const v of vs) used.add(`${k}:${v}`);
        return t.result;
      }),
    );
    await run.step();
    return [...used];
  }

  it('CPU JS runs no WASM kernel in a training step (forward, backward, SGD)', async () => {
    const used = await variantsOfStep('js');
    expect(used.filter((u) => u.includes(':wasm'))).toEqual([]);
    expect(used).toContain('conv2d:im2col');
    expect(used).toContain('conv2dBackwardWeight:im2col');
  });
  it('WASM SIMD runs the WASM conv kernels', async () => {
    const used = await variantsOfStep('wasm');
    expect(used.some((u) => u.startsWith('conv2d:wasm'))).toBe(true);
  });
  it('checkConfig names the field, the expected and the actual value', () => {
    expect(() => checkConfig({ ...DEFAULT_CONFIG, width: 0 })).toThrow(/width must be an integer from 1 to 64, but got 0/);
    expect(() => checkConfig({ ...DEFAULT_CONFIG, width: 0 })).toThrow(ValueError);
    expect(() => checkConfig({ ...DEFAULT_CONFIG, width: 8, groups: 3 })).toThrow(/groups must divide width \(8\), but got 3/);
    expect(() => checkConfig({ ...DEFAULT_CONFIG, lr: -1 })).toThrow(/lr must be a number in \(0, 10\], but got -1/);
    expect(() => checkConfig({ ...DEFAULT_CONFIG, model: 'resnet50' as never })).toThrow(/model must be one of .*but got 'resnet50'/);
  });
});

describe('Race', () => {
  it('a right result is timed; a wrong one is reported and not timed', async () => {
    const c = raceCase('gconv');
    const inputs = caseInputs(c);
    const ref = referenceOutput(c, inputs);
    const ok = await raceOn(c, 'js', inputs, ref, { budgetMs: 1, minReps: 1 });
    expect(ok.status).toBe('ok');
    expect(ok.medianMs).toBeGreaterThan(0);
    const bad = ref.slice();
    bad[123] = (bad[123] as number) + 0.5;
    const wrong = await raceOn(c, 'wasm', inputs, bad, { budgetMs: 1, minReps: 1 });
    expect(wrong.status).toBe('wrong');
    expect(wrong.reason).toMatch(/max scaled error .* > 0.0001/);
    expect(wrong.medianMs).toBeUndefined();
    expect(wrong.gflops).toBeUndefined();
  });
  it('refuses an unknown case', () => {
    expect(() => raceCase('fft' as never)).toThrow(/race case must be one of gemm256, gemm512, conv, gconv, bn, but got 'fft'/);
  });
});

describe('npm run lab: arguments and server', () => {
  let root = '';
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'resgrad-lab-'));
    writeFileSync(join(root, 'index.html'), '<!doctype html><title>t</title>');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  /** GET a raw path (no URL normalisation on the way) and return the status and headers. */
  const get = (url: string, path: string) =>
    new Promise<{ status: number; headers: Record<string, unknown> }>((ok, fail) => {
      const { hostname, port } = new URL(url);
      request({ hostname, port, path }, (res) => {
        res.resume();
        ok({ status: res.statusCode ?? 0, headers: res.headers });
      })
        .on('error', fail)
        .end();
    });

  it('serves with COOP/COEP by default and without them under --no-isolation', async () => {
    for (const isolation of [true, false]) {
      const lab = await startLabServer({ root, isolation });
      try {
        const r = await get(lab.url, '/');
        expect(r.status).toBe(200);
        expect(r.headers['content-type']).toMatch(/text\/html/);
        expect(r.headers['cross-origin-opener-policy']).toBe(isolation ? 'same-origin' : undefined);
        expect(r.headers['cross-origin-embedder-policy']).toBe(isolation ? 'require-corp' : undefined);
        expect((await get(lab.url, '/%2e%2e/package.json')).status).toBe(404);
        expect((await get(lab.url, '/missing.js')).status).toBe(404);
      } finally {
        await lab.close();
      }
    }
  });
  it('resolves request paths inside the root only', () => {
    expect(resolveRequest(root, '/')).toBe(join(root, 'index.html'));
    expect(resolveRequest(root, '/index.html?x=1')).toBe(join(root, 'index.html'));
    expect(resolveRequest(root, '/../../etc/passwd')).toBeNull();
    expect(resolveRequest(root, '/%2e%2e/%2e%2e/etc/passwd')).toBeNull();
  });
  it('parses --port and --no-isolation, and names a bad port', () => {
    expect(parseLabArgs([])).toEqual({ port: 8080, isolation: true, build: true });
    expect(parseLabArgs(['--port', '0', '--no-isolation', '--no-build'])).toEqual({ port: 0, isolation: false, build: false });
    expect(() => parseLabArgs(['--port', '99999'])).toThrow(/--port: expected an integer from 0 to 65535, but got '99999'/);
    expect(() => parseLabArgs(['--port', '99999'])).toThrow(UsageError);
    expect(parseLabArgs(['--help']).help).toBe(true);
    expect(() => parseLabArgs(['--threads', '2'])).toThrow(/Unknown option '--threads'/);
  });
});
