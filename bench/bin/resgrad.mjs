#!/usr/bin/env node
// `resgrad <command>`: today the one command is `bench` (see bench/cli.ts, or `resgrad bench -h`).
// The sources are TypeScript; tsx's loader runs them without a build step.
import { register } from 'tsx/esm/api';

const [command, ...rest] = process.argv.slice(2);
if (command !== 'bench') {
  process.stderr.write(`usage: resgrad bench [options]   (resgrad bench --help for the options)\n`);
  process.exit(command === undefined || command === '-h' || command === '--help' ? 0 : 1);
}
register();
const { main } = await import('../cli.ts');
main(rest).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`resgrad bench: ${e instanceof Error ? e.message : e}\n`);
    process.exit(1);
  },
);
