// The CLI's argument handling (it runs nothing here: --list only lists).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../bench/cli.js';

describe('resgrad bench CLI', () => {
  afterEach(() => vi.restoreAllMocks());

  it('--list --filter gemm --quick lists the gemm ladder', async () => {
    const out: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
      out.push(String(s));
      return true;
    });
    expect(await main(['bench', '--list', '--filter', 'gemm', '--quick'])).toBe(0);
    expect(out.join('')).toContain('gemm 128×128×128\treference, blocked, matmul op');
    expect(out.join('')).not.toContain('conv');
  });

  it('--filter on a workload name builds every suite and keeps the matches', async () => {
    const out: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
      out.push(String(s));
      return true;
    });
    expect(await main(['--list', '--quick', '--filter', 'g4'])).toBe(0);
    expect(out.join('').trim().split('\n')).toEqual([expect.stringMatching(/^conv\tconv quick 3×3 8→8 g4 16²\t/)]);
  });

  it('rejects a bad --backend and unknown options', async () => {
    await expect(main(['--backend', 'tpu', '--list'])).rejects.toThrow("--backend: expected cpu, gpu or cpu,gpu, got 'tpu'");
    await expect(main(['--nope'])).rejects.toThrow(/nope/);
  });
});
