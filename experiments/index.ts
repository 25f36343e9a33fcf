// Every experiment by its command-line name, in the order of issue 12.
import type { Experiment } from './framework.js';
import { gradientFlow } from './gradient_flow.js';
import { groups } from './groups.js';

export const EXPERIMENTS: Record<string, Experiment> = Object.fromEntries([gradientFlow, groups].map((e) => [e.name, e]));

export * from './framework.js';
