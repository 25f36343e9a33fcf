// The messages between the page (app.ts) and its worker (worker.ts).
import type { PathId, PathStatus } from './paths.js';
import type { CaseId, RaceResult } from './race.js';
import type { StepResult, TrainConfig } from './trainer.js';

export type ToWorker =
  | { type: 'hello'; threads?: number }
  | { type: 'train'; config: TrainConfig; path: PathId }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'race'; cases: CaseId[]; paths: PathId[] };

export type FromWorker =
  | { type: 'ready'; paths: PathStatus[]; isolated: boolean; describe: string }
  | { type: 'started'; path: PathId; params: number; describe: string }
  | { type: 'step'; result: StepResult; imagesPerS: number }
  | { type: 'paused'; step: number }
  | { type: 'done'; steps: number; grid: { pixels: Uint8Array; labels: number[]; predicted: number[]; classes: string[] } }
  | { type: 'raceRef'; case: CaseId; ref: Float32Array }
  | { type: 'raceResult'; result: RaceResult }
  | { type: 'raceDone' }
  | { type: 'error'; where: string; message: string };

/** Test images shown after training (the first of the test subset). */
export const GRID_IMAGES = 16;
