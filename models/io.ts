// io: weights in and out of resgrad — safetensors (load, save, with per-tensor hashes) and ONNX export.
export * from './safetensors.js';
export { exportOnnx, serializeOnnx, onnxModelOf, OnnxExportError, type OnnxExportOptions } from './onnx.js';
