// Importing this registers every gpu kernel family in the table of core/gpu/device.ts
// (core/gpu/init.ts does, before it creates the backend).
import './elementwise.js';
import './matmul.js';
import './reduce.js';
import './conv.js';
import './pool.js';
import './norm.js';
import './misc.js';
