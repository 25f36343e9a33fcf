// Every experiment by its command-line name, in the order of issue 12.
import { degradation } from './degradation.js';
import type { Experiment } from './framework.js';
import { gradientFlow } from './gradient_flow.js';
import { groups } from './groups.js';
import { norms } from './norms.js';
import { transfer } from './transfer.js';

export const EXPERIMENTS: Record<string, Experiment> = Object.fromEntries([gradientFlow, degradation, norms, groups, transfer].map((e) => [e.name, e]));

export * from './framework.js';
