// Load PyTorch oracle fixtures (test/oracle/fixtures/<family>.json, made by gen_<family>.py).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type DType, type Tensor, tensor } from '../../index.js';

export interface EncodedTensor {
  shape: number[];
  dtype: DType;
  data: number[];
}
export interface OracleCase {
  name: string;
  [key: string]: unknown;
}

const here = dirname(fileURLToPath(import.meta.url));

export function loadFixture(family: string): OracleCase[] {
  const path = join(here, '..', 'oracle', 'fixtures', `${family}.json`);
  return (JSON.parse(readFileSync(path, 'utf8')) as { cases: OracleCase[] }).cases;
}

/** Decode an encoded tensor, optionally as another dtype and with requiresGrad. */
export function dec(e: unknown, opts: { dtype?: DType; requiresGrad?: boolean } = {}): Tensor {
  const t = e as EncodedTensor;
  const dtype = opts.dtype && t.dtype !== 'int32' ? opts.dtype : t.dtype;
  return tensor(Float64Array.from(t.data), { shape: t.shape, dtype, requiresGrad: opts.requiresGrad });
}
