// The committed kernels/wasm/generated/ files must be exactly what `npm run build:wasm` makes from
// kernels/wasm/src/, and the build must refuse modules the runtime cannot use.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BUILD_COMMAND, buildWasm, checkGenerated, writeGenerated } from '../../scripts/build-wasm.js';

describe('wasm build: committed output', () => {
  it('every generated module matches its source (else run `npm run build:wasm`)', async () => {
    expect(await checkGenerated()).toEqual([]);
  });

  it('the build is deterministic', async () => {
    const a = await buildWasm();
    const b = await buildWasm();
    expect([...a.files]).toEqual([...b.files]);
  });
});

const MEMORY = '(import "env" "memory" (memory 1 65536 shared))';
const roots: string[] = [];

/** A scratch repository root holding kernels/wasm/src/<name> for each given source. */
function scratchRoot(sources: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'resgrad-wasm-build-'));
  roots.push(root);
  mkdirSync(join(root, 'kernels/wasm/src'), { recursive: true });
  for (const [name, text] of Object.entries(sources)) writeFileSync(join(root, 'kernels/wasm/src', name), text);
  return root;
}

function moduleWith(body: string): string {
  return `(module\n  ${MEMORY}\n  ${body})\n`;
}

afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

describe('wasm build: staleness check', () => {
  it('a fresh build checks clean; a changed, missing or orphaned file is named with the command', async () => {
    const root = scratchRoot({
      'a.wat': moduleWith('(func (export "a_one") (param i32 i32))'),
      'b.wat': moduleWith('(func (export "b_one") (param i32 i32))'),
    });
    const built = await writeGenerated(root);
    expect(built.modules.map((m) => [m.name, m.exports])).toEqual([
      ['a', ['a_one']],
      ['b', ['b_one']],
    ]);
    expect(await checkGenerated(root)).toEqual([]);
    const index = readFileSync(join(root, 'kernels/wasm/generated/index.ts'), 'utf8');
    expect(index).toContain("import { a } from './a.js';");
    expect(index).toContain('export const wasmModules: readonly GeneratedWasmModule[] = [a, b];');

    writeFileSync(join(root, 'kernels/wasm/src/a.wat'), moduleWith('(func (export "a_two") (param i32 i32))'));
    rmSync(join(root, 'kernels/wasm/generated/b.ts'));
    writeFileSync(join(root, 'kernels/wasm/generated/gone.ts'), 'export const gone = 1;\n');
    const problems = await checkGenerated(root);
    expect(problems).toEqual([
      `kernels/wasm/generated/a.ts is stale (its source changed): run \`${BUILD_COMMAND}\``,
      `kernels/wasm/generated/b.ts is missing: run \`${BUILD_COMMAND}\``,
      `kernels/wasm/generated/gone.ts has no source in kernels/wasm/src: run \`${BUILD_COMMAND}\` to remove it`,
    ]);

    await writeGenerated(root);
    expect(await checkGenerated(root)).toEqual([]);
  });

  it("a generator's twins become two modules; relaxed SIMD is accepted only in the .relaxed one", async () => {
    const fma = '(func (export "k_fma$") (param i32 i32 v128 v128 v128) (result v128) (f32x4.relaxed_madd (local.get 2) (local.get 3) (local.get 4)))';
    const gen = `export function generate() {
  const fma = ${JSON.stringify(fma)};
  return {
    k: ${JSON.stringify(moduleWith('(func (export "k_run") (param i32 i32))'))},
    'k.relaxed': ${JSON.stringify(moduleWith(fma.replace('$', '_relaxed')))},
  };
}
`;
    const built = await buildWasm(scratchRoot({ 'k.gen.ts': gen }));
    expect(built.modules.map((m) => [m.name, m.relaxed, m.exports])).toEqual([
      ['k', false, ['k_run']],
      ['k.relaxed', true, ['k_fma_relaxed']],
    ]);
    expect(built.files.get('kernels/wasm/generated/k.relaxed.ts')).toContain('export const k_relaxed = {');

    await expect(buildWasm(scratchRoot({ 'plain.wat': moduleWith(fma.replace('$', '')) }))).rejects.toThrow(/kernels\/wasm\/src\/plain\.wat/);
  });
});

describe('wasm build: errors name the file and the rule', () => {
  it('a syntax error gives file:line', async () => {
    const root = scratchRoot({ 'bad.wat': `(module\n  ${MEMORY}\n  (func (export "bad_f") (param i32 i32)\n    (i32.bogus)))\n` });
    await expect(buildWasm(root)).rejects.toThrow(/kernels\/wasm\/src\/bad\.wat:4:\d+: error/);
  });

  it('two modules exporting one name', async () => {
    const root = scratchRoot({
      'a.wat': moduleWith('(func (export "same") (param i32 i32))'),
      'b.wat': moduleWith('(func (export "same") (param i32 i32))'),
    });
    await expect(buildWasm(root)).rejects.toThrow("export 'same' is defined by both module 'a' and module 'b'");
  });

  it('a memory that is not shared, another import, no memory import, a data segment', async () => {
    const cases: [string, RegExp][] = [
      ['(module (import "env" "memory" (memory 1 10)) (func (export "x_f")))', /the imported memory must be shared/],
      [`(module ${MEMORY} (import "env" "log" (func)))`, /imports 2 item\(s\)/],
      ['(module (memory 1) (func (export "x_f")))', /must import the shared memory/],
      [`(module ${MEMORY} (data (i32.const 0) "abc"))`, /has data segments/],
    ];
    for (const [wat, message] of cases) {
      await expect(buildWasm(scratchRoot({ 'x.wat': wat }))).rejects.toThrow(message);
    }
  });

  it('a bad module name or a generator without generate()', async () => {
    await expect(buildWasm(scratchRoot({ 'Gemm.wat': moduleWith('') }))).rejects.toThrow(/module name 'Gemm' must match/);
    await expect(buildWasm(scratchRoot({ 'g.gen.ts': 'export const x = 1;\n' }))).rejects.toThrow(
      'kernels/wasm/src/g.gen.ts: expected an exported function generate(), found undefined',
    );
  });
});

describe('non-ASCII text in WAT', () => {
  it("a comment with '⌊' (U+230A, whose low byte is a newline) assembles to the same bytes as without it", async () => {
    const { assemble } = await import('../../scripts/build-wasm.js');
    const body = '(func (export "t_x") (param i32 i32) (result i32) local.get 0))';
    const plain = await assemble({ name: 't', file: 't.wat', wat: `(module (import "env" "memory" (memory 1 65536 shared))\n${body}` });
    const fancy = await assemble({ name: 't', file: 't.wat', wat: `(module (import "env" "memory" (memory 1 65536 shared))\n;; ⌊x⌋ · α\n${body}` });
    expect([...fancy.bytes]).toEqual([...plain.bytes]);
  });
});
