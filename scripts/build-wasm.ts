// Assembles the WASM kernel sources into TypeScript modules that carry the bytes.
//
//   npm run build:wasm        (tsx scripts/build-wasm.ts)
//
// Sources live in kernels/wasm/src/: hand-written `<module>.wat`, or `<family>.gen.ts` exporting
// `generate()`, a small TypeScript generator of WAT that returns the text (module `<family>`) or
// an object `{ [moduleName]: watText }` (twins such as `gemm` and `gemm.relaxed`). A module whose
// name ends in `.relaxed` is assembled with relaxed SIMD on and is loaded only where the engine
// supports it. Each module becomes kernels/wasm/generated/<module>.ts (its bytes in base64) and
// kernels/wasm/generated/index.ts lists them all. The output is a pure function of the sources, so
// the committed files can be checked against them (test/kernels/wasm_build.test.ts does).
//
// Rules checked here, because the runtime relies on them: every module imports the one shared
// memory as ("env" "memory") and nothing else, has no data segments (each thread instantiates every
// module, and an active segment would be rewritten into the shared memory each time), and no two
// modules export the same name (the runtime finds functions by name alone).

import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import wabtInit from 'wabt';

export const SOURCE_DIR = 'kernels/wasm/src';
export const GENERATED_DIR = 'kernels/wasm/generated';
export const BUILD_COMMAND = 'npm run build:wasm';
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** One module's WAT text and where it came from. */
export interface WasmSource {
  /** Module name: `util`, `gemm`, `gemm.relaxed`. */
  name: string;
  /** Repository-relative path of the file that produced it. */
  file: string;
  wat: string;
}

export interface BuiltWasmModule {
  name: string;
  file: string;
  relaxed: boolean;
  bytes: Uint8Array;
  exports: string[];
}

export class WasmBuildError extends Error {
  override name = 'WasmBuildError';
}

const MODULE_NAME = /^[a-z][a-z0-9_]*(\.relaxed)?$/;

/** `gemm.relaxed` -> `gemm_relaxed`: the identifier a generated file exports. */
function identifierOf(moduleName: string): string {
  return moduleName.replace('.', '_');
}

/** Reads every source in <root>/kernels/wasm/src, sorted by module name. */
export async function collectSources(root = REPO_ROOT): Promise<WasmSource[]> {
  const dir = join(root, SOURCE_DIR);
  if (!existsSync(dir)) return [];
  const sources: WasmSource[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const file = `${SOURCE_DIR}/${entry}`;
    if (entry.endsWith('.wat')) {
      sources.push({ name: entry.slice(0, -'.wat'.length), file, wat: readFileSync(join(dir, entry), 'utf8') });
    } else if (entry.endsWith('.gen.ts')) {
      const family = entry.slice(0, -'.gen.ts'.length);
      const mod = (await import(pathToFileURL(join(dir, entry)).href)) as { generate?: unknown };
      if (typeof mod.generate !== 'function') {
        throw new WasmBuildError(`${file}: expected an exported function generate(), found ${typeof mod.generate}`);
      }
      const out: unknown = mod.generate();
      if (typeof out === 'string') {
        sources.push({ name: family, file, wat: out });
      } else if (out !== null && typeof out === 'object') {
        for (const [name, wat] of Object.entries(out)) {
          if (typeof wat !== 'string') {
            throw new WasmBuildError(`${file}: generate() must map module names to WAT strings; '${name}' is ${typeof wat}`);
          }
          sources.push({ name, file, wat });
        }
      } else {
        throw new WasmBuildError(`${file}: generate() must return a WAT string or { [module]: wat }, got ${typeof out}`);
      }
    }
  }
  const byName = new Map<string, string>();
  const byIdentifier = new Map<string, string>();
  for (const s of sources) {
    if (!MODULE_NAME.test(s.name)) {
      throw new WasmBuildError(`${s.file}: module name '${s.name}' must match ${MODULE_NAME} (lowercase, optional '.relaxed')`);
    }
    const clash = byName.get(s.name) ?? byIdentifier.get(identifierOf(s.name));
    if (clash !== undefined) throw new WasmBuildError(`module '${s.name}' from ${s.file} clashes with one from ${clash}`);
    byName.set(s.name, s.file);
    byIdentifier.set(identifierOf(s.name), s.file);
  }
  return sources.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

type Wabt = Awaited<ReturnType<typeof wabtInit>>;
let wabtPromise: Promise<Wabt> | undefined;

/** The parsed module's validate() takes the feature set too (wabt's .d.ts omits it). */
interface ValidatingModule {
  validate(features: object): void;
  toBinary(options: { write_debug_names?: boolean }): { buffer: Uint8Array };
  destroy(): void;
}

/** WAT -> bytes with wabt (simd + threads, + relaxed_simd for `*.relaxed`), then the runtime's rules. */
export async function assemble(source: WasmSource): Promise<BuiltWasmModule> {
  wabtPromise ??= wabtInit();
  const wabt = await wabtPromise;
  const relaxed = source.name.endsWith('.relaxed');
  const features = { simd: true, threads: true, bulk_memory: true, relaxed_simd: relaxed };
  // The file name goes into wabt's messages, so a syntax error reads `kernels/wasm/src/x.wat:12:5: error: ...`.
  const label = source.file.endsWith('.wat') ? source.file : `${source.file} (module ${source.name})`;
  // wabt.js reads a string's UTF-16 code units as bytes, so a non-ASCII character (a '⌊' in a
  // comment: U+230A) became other bytes, even a newline ending the comment early. It gets UTF-8.
  const text = new TextEncoder().encode(source.wat);
  let bytes: Uint8Array;
  try {
    const parsed = wabt.parseWat(label, text, features) as unknown as ValidatingModule;
    try {
      parsed.validate(features);
      // Names in the binary make traps and profiles show function names instead of indices.
      bytes = new Uint8Array(parsed.toBinary({ write_debug_names: true }).buffer);
    } finally {
      parsed.destroy();
    }
  } catch (e) {
    throw new WasmBuildError(`${label}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const exports = checkModuleRules(bytes, label);
  return { name: source.name, file: source.file, relaxed, bytes, exports };
}

/**
 * Walks the binary's sections: the only import must be the shared memory ("env" "memory"), there
 * must be no data segments; returns the exported function names.
 */
function checkModuleRules(bytes: Uint8Array, label: string): string[] {
  let p = 8; // past the magic number and version
  const u32 = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const byte = bytes[p++]!;
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
    }
  };
  const name = (): string => {
    const len = u32();
    const s = new TextDecoder().decode(bytes.subarray(p, p + len));
    p += len;
    return s;
  };
  const exports: string[] = [];
  let importsMemory = false;
  while (p < bytes.length) {
    const id = bytes[p++]!;
    const size = u32();
    const end = p + size;
    if (id === 2) {
      // import section: (module, field, kind, desc)*; exactly one entry is allowed
      const count = u32();
      const mod = name();
      const field = name();
      const kind = bytes[p++]!;
      const limitsFlags = bytes[p]!;
      if (count !== 1 || mod !== 'env' || field !== 'memory' || kind !== 2) {
        throw new WasmBuildError(
          `${label}: imports ${count} item(s), the first '${mod}' '${field}'; a module may import only (import "env" "memory" (memory 1 65536 shared))`,
        );
      }
      if ((limitsFlags & 2) === 0) {
        throw new WasmBuildError(`${label}: the imported memory must be shared: (import "env" "memory" (memory 1 65536 shared))`);
      }
      importsMemory = true;
    } else if (id === 11 && u32() > 0) {
      throw new WasmBuildError(
        `${label}: has data segments; every thread instantiates every module, so a segment would be rewritten into the shared memory by each (use v128.const, or pass tables from JS)`,
      );
    } else if (id === 7) {
      // export section: (name, kind, index)*
      for (let n = u32(); n > 0; n--) {
        const exportName = name();
        const kind = bytes[p++]!;
        u32();
        if (kind === 0) exports.push(exportName);
      }
    }
    p = end;
  }
  if (!importsMemory) {
    throw new WasmBuildError(`${label}: must import the shared memory: (import "env" "memory" (memory 1 65536 shared))`);
  }
  return exports;
}

/** base64 of bytes (Buffer in Node; the runtime decodes with atob, which every host has). */
function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function header(what: string): string {
  return `// Generated by \`${BUILD_COMMAND}\` (scripts/build-wasm.ts) from ${what}: do not edit.\n`;
}

function moduleFileText(m: BuiltWasmModule): string {
  return (
    header(m.file) +
    `// ${m.bytes.length} bytes of WebAssembly, base64-encoded.\n` +
    `export const ${identifierOf(m.name)} = {\n` +
    `  name: '${m.name}',\n` +
    `  source: '${m.file}',\n` +
    `  relaxed: ${m.relaxed},\n` +
    `  exports: [${m.exports.map((e) => `'${e}'`).join(', ')}],\n` +
    `  base64: '${toBase64(m.bytes)}',\n` +
    '};\n'
  );
}

function indexFileText(modules: BuiltWasmModule[]): string {
  const ids = modules.map((m) => identifierOf(m.name));
  return (
    header(`every module in ${SOURCE_DIR}`) +
    modules.map((m, i) => `import { ${ids[i]} } from './${m.name}.js';\n`).join('') +
    '\n' +
    'export interface GeneratedWasmModule {\n' +
    "  /** Module name: 'util', 'gemm', 'gemm.relaxed'. */\n" +
    '  readonly name: string;\n' +
    '  /** The source file it was assembled from. */\n' +
    '  readonly source: string;\n' +
    '  /** Needs relaxed SIMD: load only where WebAssembly.validate accepts it. */\n' +
    '  readonly relaxed: boolean;\n' +
    '  /** Exported function names. */\n' +
    '  readonly exports: readonly string[];\n' +
    '  readonly base64: string;\n' +
    '}\n' +
    '\n' +
    `export const wasmModules: readonly GeneratedWasmModule[] = [${ids.join(', ')}];\n`
  );
}

export interface WasmBuild {
  modules: BuiltWasmModule[];
  /** Repository-relative path -> text, for every file the build writes. */
  files: Map<string, string>;
}

/** Builds every module in memory (nothing is written). */
export async function buildWasm(root = REPO_ROOT): Promise<WasmBuild> {
  const modules: BuiltWasmModule[] = [];
  for (const source of await collectSources(root)) modules.push(await assemble(source));
  const seen = new Map<string, string>();
  for (const m of modules) {
    for (const e of m.exports) {
      const other = seen.get(e);
      if (other !== undefined) throw new WasmBuildError(`export '${e}' is defined by both module '${other}' and module '${m.name}'; export names must be unique`);
      seen.set(e, m.name);
    }
  }
  const files = new Map<string, string>();
  for (const m of modules) files.set(`${GENERATED_DIR}/${m.name}.ts`, moduleFileText(m));
  files.set(`${GENERATED_DIR}/index.ts`, indexFileText(modules));
  return { modules, files };
}

/** Generated files on disk that the build would not write (their source is gone). */
function orphans(root: string, files: Map<string, string>): string[] {
  const dir = join(root, GENERATED_DIR);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => `${GENERATED_DIR}/${f}`)
    .filter((f) => !files.has(f))
    .sort();
}

/** What differs between the committed generated files and a fresh build; [] when up to date. */
export async function checkGenerated(root = REPO_ROOT): Promise<string[]> {
  const { files } = await buildWasm(root);
  const problems: string[] = [];
  for (const [path, text] of files) {
    const abs = join(root, path);
    if (!existsSync(abs)) problems.push(`${path} is missing: run \`${BUILD_COMMAND}\``);
    else if (readFileSync(abs, 'utf8') !== text) problems.push(`${path} is stale (its source changed): run \`${BUILD_COMMAND}\``);
  }
  for (const path of orphans(root, files)) problems.push(`${path} has no source in ${SOURCE_DIR}: run \`${BUILD_COMMAND}\` to remove it`);
  return problems;
}

/** Builds and writes kernels/wasm/generated/, removing generated files whose source is gone. */
export async function writeGenerated(root = REPO_ROOT): Promise<WasmBuild> {
  const build = await buildWasm(root);
  mkdirSync(join(root, GENERATED_DIR), { recursive: true });
  for (const path of orphans(root, build.files)) rmSync(join(root, path));
  for (const [path, text] of build.files) {
    const abs = join(root, path);
    if (!existsSync(abs) || readFileSync(abs, 'utf8') !== text) writeFileSync(abs, text);
  }
  return build;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    const { modules } = await writeGenerated();
    for (const m of modules) console.log(`${m.name.padEnd(20)} ${String(m.bytes.length).padStart(7)} bytes  ${m.exports.join(' ')}`);
  } catch (e) {
    console.error(e instanceof WasmBuildError ? e.message : e);
    process.exit(1);
  }
}
