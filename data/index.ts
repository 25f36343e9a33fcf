// Data: Fashion-MNIST (full set from its IDX files, or the embedded subset) and the DataLoader.
export { DataError, type IdxArray, parseIdx, encodeIdx, gunzip, isGzip } from './idx.js';
export {
  FASHION_MNIST_CLASSES,
  DEBIAN_FASHION_MNIST_DIR,
  FASHION_SUBSET_URL,
  type ImageDataset,
  type FashionSource,
  type Split,
  type LoadFashionOptions,
  fashionFileNames,
  loadFashionMnist,
  parseIdxPair,
  selectClasses,
  takePerClass,
  perClassIndices,
} from './fashion_mnist.js';
export {
  DataLoader,
  type LoaderOptions,
  type LoaderState,
  type Batch,
  type AugmentOptions,
  type Augmentation,
  FASHION_MNIST_MEAN,
  FASHION_MNIST_STD,
  normalisationTable,
} from './loader.js';
