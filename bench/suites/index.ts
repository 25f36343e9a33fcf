// Every suite the CLI knows, in the order it runs them.
import type { Suite } from '../types.js';
import { gemmSuite } from './gemm.js';

export const SUITES: Suite[] = [gemmSuite()];
