// nn.conv2dOutputSize against torch 1.13 (test/oracle/gen_conv_arith.py: the output size of
// F.conv2d for 540 combinations of input size, kernel, stride, padding and dilation up to 3)
// and against the formula ⌊(H + 2p − d(k − 1) − 1) / s⌋ + 1; F.conv2d's own output shape agrees.
import { describe, expect, it } from 'vitest';
import { F, nn, zeros } from '../../index.js';
import { loadFixture } from '../helpers/oracle.js';

interface SizeCase {
  name: string;
  inSize: number;
  kernel: number;
  stride: number;
  padding: number;
  dilation: number;
  out: number | 'error';
}

const cases = loadFixture('conv_arith') as unknown as SizeCase[];
const valid = cases.filter((c): c is SizeCase & { out: number } => c.out !== 'error');
const formula = (h: number, k: number, s: number, p: number, d: number): number => Math.floor((h + 2 * p - d * (k - 1) - 1) / s) + 1;

describe('conv2dOutputSize', () => {
  it(`matches torch on ${valid.length} shapes, including dilation 2 and 3 with stride and padding`, () => {
    const wrong = valid.filter((c) => nn.conv2dOutputSize(c.inSize, c.kernel, c.stride, c.padding, c.dilation) !== c.out);
    expect(wrong.map((c) => `${c.name}: torch ${c.out}, got ${nn.conv2dOutputSize(c.inSize, c.kernel, c.stride, c.padding, c.dilation)}`)).toEqual([]);
  });

  it('the cases can tell: ignoring dilation, stride or padding would change some torch answers', () => {
    const differs = (f: (c: SizeCase) => number): number => valid.filter((c) => f(c) !== c.out).length;
    expect(differs((c) => formula(c.inSize, c.kernel, c.stride, c.padding, 1))).toBeGreaterThan(50);
    expect(differs((c) => formula(c.inSize, c.kernel, 1, c.padding, c.dilation))).toBeGreaterThan(50);
    expect(differs((c) => formula(c.inSize, c.kernel, c.stride, 0, c.dilation))).toBeGreaterThan(50);
    expect(valid.filter((c) => formula(c.inSize, c.kernel, c.stride, c.padding, c.dilation) === c.out)).toHaveLength(valid.length);
  });

  it('where torch refuses (empty output), the size is below 1', () => {
    const refused = cases.filter((c) => c.out === 'error');
    expect(refused.length).toBeGreaterThan(0);
    for (const c of refused) expect(nn.conv2dOutputSize(c.inSize, c.kernel, c.stride, c.padding, c.dilation), c.name).toBeLessThan(1);
  });

  it('defaults are stride 1, padding 0, dilation 1: conv2dOutputSize(7, 3) = 5', () => {
    expect(nn.conv2dOutputSize(7, 3)).toBe(5);
    expect(nn.conv2dOutputSize(7, 3, 2, 1, 2)).toBe(3); // ⌊(7 + 2 − 4 − 1)/2⌋ + 1
  });
});

describe('F.conv2d output shape = conv2dOutputSize', () => {
  // one small conv per torch case with dilation > 1 (the rest are covered by the formula above)
  const dilated = valid.filter((c) => c.dilation > 1);
  it(`${dilated.length} dilated shapes x=[1,1,H,H+1] w=[1,1,k,k]`, () => {
    for (const c of dilated) {
      const y = F.conv2d(zeros([1, 1, c.inSize, c.inSize + 1]), zeros([1, 1, c.kernel, c.kernel]), null, {
        stride: c.stride,
        padding: c.padding,
        dilation: c.dilation,
      });
      const w = nn.conv2dOutputSize(c.inSize + 1, c.kernel, c.stride, c.padding, c.dilation);
      expect([...y.shape], c.name).toEqual([1, 1, c.out, w]);
    }
  });
});
