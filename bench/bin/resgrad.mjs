#!/usr/bin/env node
// `resgrad <command> [options]`: each command is a TypeScript module exporting
// `main(args: string[]): Promise<number>` (the exit code); tsx's loader runs them without a build.
import { register } from 'tsx/esm/api';

const commands = {
  bench: { module: '../cli.ts', about: 'kernel and model benchmarks, with peers (resgrad bench --help)' },
  train: { module: '../../train/cli.ts', about: 'train a model on Fashion-MNIST (resgrad train --help)' },
};

const [command, ...rest] = process.argv.slice(2);
const entry = Object.hasOwn(commands, command ?? '') ? commands[command] : undefined;
if (entry === undefined) {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(8)}${c.about}`);
  const help = command === undefined || command === '-h' || command === '--help';
  const head = help ? '' : `resgrad: unknown command '${command}'\n`;
  (help ? process.stdout : process.stderr).write(`${head}usage: resgrad <command> [options]\n\ncommands:\n${lines.join('\n')}\n`);
  process.exit(help ? 0 : 1);
}
register();
const { main } = await import(entry.module);
main(rest).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`resgrad ${command}: ${e instanceof Error ? e.message : e}\n`);
    process.exit(1);
  },
);
