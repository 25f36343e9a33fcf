// Every suite the CLI knows, in the order it runs them.
import type { Suite } from '../types.js';
import { convSuite } from './conv.js';
import { gemmSuite } from './gemm.js';
import { modelSuite } from './models.js';
import { normSuite } from './norm.js';
import { poolSuite } from './pool.js';

export const SUITES: Suite[] = [gemmSuite(), convSuite(), normSuite(), poolSuite(), modelSuite()];
