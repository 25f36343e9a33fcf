// `npm run lab`: build the lab page into dist/lab and serve it on 127.0.0.1.
//   --port N         the port (default 8080; 0 picks a free one)
//   --no-isolation   serve without COOP/COEP: the page then runs single-threaded and says why
//   --no-build       serve dist/lab as it is
import { parseArgs } from 'node:util';
import { UsageError } from '../train/models.js';
import { buildLab } from './build.mjs';
import { startLabServer } from './server.js';

const USAGE = 'usage: npm run lab -- [--port N] [--no-isolation] [--no-build]';

export interface LabArgs {
  port: number;
  isolation: boolean;
  build: boolean;
  /** --help: print the usage and stop */
  help?: boolean;
}

export function parseLabArgs(argv: string[]): LabArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '8080' },
      'no-isolation': { type: 'boolean', default: false },
      'no-build': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return { port: 8080, isolation: true, build: true, help: true };
  const port = /^[0-9]+$/.test(values.port) ? Number(values.port) : Number.NaN;
  if (!(port >= 0 && port <= 65535)) throw new UsageError(`--port: expected an integer from 0 to 65535, but got '${values.port}'`);
  return { port, isolation: !values['no-isolation'], build: !values['no-build'] };
}

async function main(): Promise<void> {
  let args: LabArgs;
  try {
    args = parseLabArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (args.help) {
    console.log(USAGE);
    return;
  }
  const root = args.build ? await buildLab() : new URL('../dist/lab/', import.meta.url).pathname;
  const lab = await startLabServer({ root, port: args.port, isolation: args.isolation });
  console.log(`resgrad lab: ${lab.url}`);
  console.log(
    args.isolation
      ? 'served with COOP/COEP (cross-origin isolated): the WASM kernels run on threads in a worker'
      : 'served WITHOUT COOP/COEP: no SharedArrayBuffer, so the page runs single-threaded (it says so)',
  );
  console.log('Ctrl-C stops it.');
}

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) await main();
