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

// RESGRAD_BUNDLED is no variable: scripts/build.mjs replaces the name with `true` in the bundle.
if (typeof RESGRAD_BUNDLED === 'undefined') {
  const { register } = await import('tsx/esm/api');
  register();
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
