// Importing this registers every CPU kernel family with the CPU backend.
import '../cpu_backend.js';
import './elementwise.js';
import './reduce.js';
import './matmul.js';
import './conv.js';
import './pool.js';
import './norm.js';
import './wasm.js';
