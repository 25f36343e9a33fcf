// Importing this registers every gpu kernel family beyond the ones in core/gpu_backend.ts.
import './registry.js';
import './conv.js';
import './pool.js';
import './norm.js';
import './misc.js';
