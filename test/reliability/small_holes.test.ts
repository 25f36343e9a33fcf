// Small holes: state-dict keys that every object inherits, raw TypeErrors from creation functions
// fed the wrong types, and temporary files that a killed or failed save leaves behind.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DTypeError,
  ResgradError,
  type Tensor,
  ValueError,
  arange,
  full,
  io,
  nn,
  ones,
  rand,
  randint,
  randn,
  tensor,
  zeros,
  zerosLike,
} from '../../index.js';

const model = () => new nn.Linear(2, 3);

describe('strict loadStateDict sees only own keys', () => {
  it.each(['constructor', 'toString', 'hasOwnProperty', 'valueOf'])("an extra key '%s' is unexpected", (key) => {
    const sd: Record<string, Tensor> = { ...model().stateDict(), [key]: zeros([1]) };
    expect(() => model().loadStateDict(sd)).toThrow(new RegExp(`Unexpected key\\(s\\) in state_dict: "${key}"`));
    expect(model().loadStateDict(sd, { strict: false }).unexpectedKeys).toEqual([key]);
  });

  it("a JSON-made '__proto__' key is unexpected too, and does not change what loads", () => {
    const m = model();
    const sd = JSON.parse('{"__proto__": {"weight": 1}}') as Record<string, Tensor>;
    for (const [k, t] of Object.entries(m.stateDict())) sd[k] = ones(t.shape);
    expect(Object.keys(sd)).toContain('__proto__');
    expect(() => m.loadStateDict(sd)).toThrow(/Unexpected key\(s\) in state_dict: "__proto__"/);
    expect(m.loadStateDict(sd, { strict: false }).unexpectedKeys).toEqual(['__proto__']);
    expect(Array.from((m.stateDict().weight as Tensor).toArray())).toEqual(new Array(6).fill(1));
  });

  it('inherited keys do not count as present: a dict whose tensors sit on its prototype misses them all', () => {
    const sd = Object.create(model().stateDict()) as Record<string, Tensor>;
    expect(() => model().loadStateDict(sd)).toThrow(/Missing key\(s\) in state_dict: "weight", "bias"/);
    expect(model().loadStateDict(sd, { strict: false }).missingKeys).toEqual(['weight', 'bias']);
  });

  it('a state dict that is not an object is a ValueError', () => {
    expect(() => model().loadStateDict(null as never)).toThrow(/loadStateDict: argument 'stateDict' must be an object of name -> Tensor, but got null/);
    expect(() => model().loadStateDict([] as never)).toThrow(ValueError);
  });
});

describe('creation functions fed the wrong types name the argument', () => {
  const cases: [string, () => unknown, RegExp][] = [
    ['zeros(5)', () => zeros(5 as never), /zeros: argument 'shape' must be an array of non-negative integers \(e.g. \[5\] or \[2, 3\]\), but got the number 5/],
    ['ones(undefined)', () => ones(undefined as never), /ones: argument 'shape' must be an array .* but got undefined/],
    ['randn("3")', () => randn('3' as never), /randn: argument 'shape' .* but got the string '3'/],
    ['rand([2, "3"])', () => rand([2, '3'] as never), /rand: argument 'shape' must be a list of non-negative integers, but got \[2, the string '3'\]/],
    ['zeros([2], "float64")', () => zeros([2], 'float64' as never), /zeros: argument 'options' must be an object such as \{ dtype: 'float64' \}, but got the string 'float64'/],
    ['zeros([2], { dtype: "float16" })', () => zeros([2], { dtype: 'float16' as never }), /zeros: argument 'dtype' must be one of float32, float64, int32, but got the string 'float16'/],
    ['zeros([2], { requiresGrad: "yes" })', () => zeros([2], { requiresGrad: 'yes' as never }), /option 'requiresGrad' must be a boolean/],
    ['randint(0, 10, [2], { dtype: "int64" })', () => randint(0, 10, [2], { dtype: 'int64' as never }), /randint: argument 'dtype' must be one of float32, float64, int32, but got the string 'int64'/],
    ['randint(0, 10)', () => (randint as (a: number, b: number) => Tensor)(0, 10), /randint: argument 'shape' must be an array/],
    ['randint("0", 10, [2])', () => randint('0' as never, 10, [2]), /randint: argument 'low' must be an integer .* but got the string '0'/],
    ['randn([2], { generator: 42 })', () => randn([2], { generator: 42 as never }), /randn: option 'generator' must be a Generator/],
    ['full([2], "1")', () => full([2], '1' as never), /full: argument 'fillValue' must be a number, but got the string '1'/],
    ['full([2], 1n)', () => full([2], 1n as never), /full: argument 'fillValue' must be a number, but got the bigint 1/],
    ['arange(0, "5")', () => arange(0, '5' as never), /arange: argument 'end' must be a number/],
    ['tensor("abc")', () => tensor('abc' as never), /tensor: argument 'data' must be a number, a nested array of numbers or a typed array, but got the string 'abc'/],
    ['tensor(null)', () => tensor(null as never), /tensor: argument 'data' .* but got null/],
    ['tensor([1, "2"])', () => tensor([1, '2'] as never), /tensor: argument 'data' .* but got the string '2' at depth 1/],
    ['tensor([true])', () => tensor([true] as never), /but got the boolean true at depth 1/],
    ['tensor(new DataView(...))', () => tensor(new DataView(new ArrayBuffer(4)) as never), /tensor: argument 'data' must be a typed array, not a DataView/],
    ['zerosLike([1, 2])', () => zerosLike([1, 2] as never), /zerosLike: argument 'input' must be a Tensor, but got \[1, 2\]/],
  ];
  it.each(cases)('%s', (_name, f, message) => {
    expect(f).toThrow(ResgradError);
    expect(f).toThrow(message);
  });

  it('an unknown dtype is a DTypeError, not a TypeError from deep inside', () => {
    expect(() => randint(0, 10, [2], { dtype: 'uint8' as never })).toThrow(DTypeError);
  });
});

describe('saveSafetensors leaves no temporary file behind', () => {
  const tmp = () => mkdtempSync(join(tmpdir(), 'resgrad-holes-'));

  /** The pid of a process that has exited (and wrote `<target>.tmp-<pid>-0` before dying, as a killed save would). */
  function killedSave(target: string): number {
    const script = "require('fs').writeFileSync(process.argv[1] + '.tmp-' + process.pid + '-0', 'half a file'); process.kill(process.pid, 'SIGKILL')";
    const r = spawnSync(process.execPath, ['-e', script, target]);
    expect(r.signal).toBe('SIGKILL');
    return r.pid as number;
  }

  it("temporary files of the target left by a killed process are removed by the next save; others' are kept", () => {
    const dir = tmp();
    const target = join(dir, 'w.safetensors');
    const dead = killedSave(target);
    const stale = `w.safetensors.tmp-${dead}-0`;
    const staleOld = `.w.safetensors.${dead}.k3x9q.tmp`; // the name earlier versions used
    writeFileSync(join(dir, staleOld), 'x');
    const live = `w.safetensors.tmp-${process.ppid}-3`; // a live process: maybe a save in progress
    const other = `v.safetensors.tmp-${dead}-0`; // another target's
    const unrelated = 'w.safetensors.tmp-notes.txt';
    for (const f of [live, other, unrelated]) writeFileSync(join(dir, f), 'x');
    expect(readdirSync(dir)).toContain(stale);

    io.saveSafetensors(target, { a: ones([2]) });
    expect(readdirSync(dir).sort()).toEqual([other, live, 'w.safetensors', unrelated].sort());
    expect(Array.from((io.loadSafetensors(target).a as Tensor).toArray())).toEqual([1, 1]);
  });

  it('a failing save removes its own temporary file (the target is a directory: the rename fails)', () => {
    const dir = tmp();
    const target = join(dir, 'taken');
    mkdirSync(target);
    writeFileSync(join(target, 'x'), 'x');
    expect(() => io.saveSafetensors(target, { a: zeros([2]) })).toThrow();
    expect(readdirSync(dir)).toEqual(['taken']);
  });

  it('temporary files are named <target>.tmp-<pid>-<n> (seen through a save that fails at the rename)', () => {
    const dir = tmp();
    const target = join(dir, 'taken');
    mkdirSync(target);
    writeFileSync(join(target, 'x'), 'x');
    const seen: string[] = [];
    const fs = process.getBuiltinModule('node:fs');
    const rename = fs.renameSync;
    fs.renameSync = ((from: string, to: string) => {
      seen.push(from);
      return rename(from, to);
    }) as typeof fs.renameSync;
    try {
      expect(() => io.saveSafetensors(target, { a: zeros([2]) })).toThrow();
    } finally {
      fs.renameSync = rename;
    }
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(new RegExp(`taken\\.tmp-${process.pid}-\\d+$`));
    expect(existsSync(seen[0] as string)).toBe(false);
  });

  it('a bad path is a ValueError', () => {
    expect(() => io.saveSafetensors('' as string, { a: zeros([1]) })).toThrow(/saveSafetensors: argument 'path' must be a non-empty string/);
    expect(() => io.saveSafetensors(3 as never, { a: zeros([1]) })).toThrow(ValueError);
  });
});
