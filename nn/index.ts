// nn: modules (layers with parameters) and the functional ops they call.
export { Module, type ForwardHook, type LoadResult } from './module.js';
