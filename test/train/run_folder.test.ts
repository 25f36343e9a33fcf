// The run folder's writes are whole or nothing; its default name sorts by start time.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultRunDir, machineInfo, writeFileAtomic, writeJsonAtomic, writeJsonLinesAtomic } from '../../train/run_folder.js';

const tmp = mkdtempSync(join(tmpdir(), 'resgrad-run-folder-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('run folder files', () => {
  it('replace the old content whole, creating the folder, with no temporary file left', () => {
    const f = join(tmp, 'a', 'b', 'metrics.jsonl');
    writeJsonLinesAtomic(f, [{ x: 1 }, { x: 2 }]);
    expect(readFileSync(f, 'utf8')).toBe('{"x":1}\n{"x":2}\n');
    writeJsonAtomic(f, { y: [1] });
    expect(JSON.parse(readFileSync(f, 'utf8'))).toEqual({ y: [1] });
    expect(readdirSync(join(tmp, 'a', 'b'))).toEqual(['metrics.jsonl']);
  });

  it('a write that fails at the rename leaves the target as it was and removes the temporary file', () => {
    const target = join(tmp, 'report.md');
    mkdirSync(target); // renaming a file over a folder fails
    writeFileSync(join(target, 'keep'), 'old');
    expect(() => writeFileAtomic(target, 'new')).toThrow();
    expect(readFileSync(join(target, 'keep'), 'utf8')).toBe('old');
    expect(readdirSync(tmp).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('default folder runs/<UTC time>-<model>; the machine is described', () => {
    expect(defaultRunDir('cifarResNet8', new Date(Date.UTC(2026, 10, 30, 16, 5, 12)))).toBe(join('runs', '2026-11-30T16-05-12-cifarResNet8'));
    const m = machineInfo();
    expect(m.cores).toBeGreaterThan(0);
    expect(m.node).toBe(process.version);
    expect(m.loadAverage).toHaveLength(3);
  });
});
