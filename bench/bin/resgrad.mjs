#!/usr/bin/env node
// `resgrad <command> [options]`: each command is a module exporting
// `main(args: string[]): Promise<number>` (the exit code).
//
// Two ways this file runs. From a checkout (`node bench/bin/resgrad.mjs bench`), tsx's loader runs
// the TypeScript sources. The published package runs dist/bin/resgrad.mjs instead: this file
// bundled by scripts/build.mjs with every command inside and RESGRAD_BUNDLED defined, so a user
// needs no tsx. The import() calls name their modules literally so that the bundler finds them.

const commands = {
  bench: {
    about: 'kernel and model benchmarks, with peers (resgrad bench --help)',
    load: () => import('../cli.ts'),
  },
  train: {
    about: 'train a model on Fashion-MNIST (resgrad train --help)',
    load: () => import('../../train/cli.ts'),
  },
  experiment: {
    about: 'run one of the experiments and write its report (resgrad experiment --help)',
    load: () => import('../../experiments/cli.ts'),
  },
};

const [command, ...rest] = process.argv.slice(2);
const entry = Object.hasOwn(commands, command ?? '') ? commands[command] : undefined;
if (entry === undefined) {
  const width = Math.max(...Object.keys(commands).map((name) => name.length)) + 2;
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}${c.about}`);
  const help = command === undefined || command === '-h' || command === '--help';
  const head = help ? '' : `resgrad: unknown command '${command}'\n`;
  (help ? process.stdout : process.stderr).write(`${head}usage: resgrad <command> [options]\n\ncommands:\n${lines.join('\n')}\n`);
  process.exit(help ? 0 : 1);
}

function fail(message) {
  process.stderr.write(`resgrad ${command}: ${message}\n`);
  process.exit(1);
}

/**
 * The bundle run inside a checkout (dist/bin/ next to the TypeScript sources, as `npx resgrad` there
 * finds it) runs the code of the last `npm run build`: the first source file changed since then,
 * or null (also for the published package, which ships no sources).
 */
async function sourceNewerThanBundle() {
  const { existsSync, readdirSync, realpathSync, statSync } = await import('node:fs');
  const { dirname, join, relative } = await import('node:path');
  // the bundle is the script node runs (not import.meta.url: the build points that at the source)
  const bundle = realpathSync(process.argv[1] ?? '');
  const root = join(dirname(bundle), '..', '..');
  if (!existsSync(join(root, 'bench', 'cli.ts'))) return null;
  const built = statSync(bundle).mtimeMs;
  const newer = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) {
        const found = e.name === 'node_modules' ? null : newer(path);
        if (found) return found;
      } else if (/\.(ts|wat)$/.test(e.name) && statSync(path).mtimeMs > built) return relative(root, path);
    }
    return null;
  };
  if (statSync(join(root, 'index.ts')).mtimeMs > built) return 'index.ts';
  for (const d of ['core', 'kernels', 'autograd', 'nn', 'models', 'data', 'bench', 'train', 'experiments']) {
    const found = existsSync(join(root, d)) ? newer(join(root, d)) : null;
    if (found) return found;
  }
  return null;
}

// RESGRAD_BUNDLED is no variable: scripts/build.mjs replaces the name with `true` in the bundle.
if (typeof RESGRAD_BUNDLED === 'undefined') {
  const { register } = await import('tsx/esm/api');
  register();
} else {
  const changed = await sourceNewerThanBundle().catch(() => null);
  if (changed) {
    process.stderr.write(
      `resgrad: warning: this is the build in dist/, and ${changed} changed after it: it runs the code of the last \`npm run build\`. ` +
        `Run that first (a benchmark measures what was built), or \`node bench/bin/resgrad.mjs ${command}\` to run the sources.\n`,
    );
  }
}
let mod;
try {
  mod = await entry.load();
} catch (e) {
  fail(`cannot load the command: ${e instanceof Error ? e.message : e}`);
}
// A bundle built while a command's source was missing carries a marker instead (see scripts/build.mjs).
if (typeof mod.main !== 'function') fail(mod.missing ?? 'the command module exports no main()');
mod.main(rest).then(
  (code) => process.exit(code),
  (e) => fail(e instanceof Error ? e.message : e),
);
