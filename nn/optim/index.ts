// optim: optimizers that update parameters in place, and learning-rate schedulers.
export {
  Optimizer, type ParamGroup, type ParamGroupSpec, type Params,
  type OptimizerStateDict, type ParamStateDict, type ParamGroupDict,
} from './optimizer.js';
export { SGD, type SGDOptions } from './sgd.js';
export { Adam, AdamW, type AdamOptions } from './adam.js';
export {
  ChainedScheduler, CosineAnnealingLR, LRScheduler, LinearLR, MultiStepLR, type Scheduler, type SchedulerStateDict, SequentialLR, StepLR,
} from './lr_scheduler.js';
