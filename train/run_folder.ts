// The run folder's small files, each written whole or not at all: the bytes go to a temporary
// file in the same folder, which is fsynced and renamed over the target (a reader, or a run
// killed half-way, sees the old file or the new one, never a mix).
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { writeFileAtomic as writeBytesAtomic } from '../models/safetensors.js';
import { arch, cpus, hostname, loadavg, platform, release, totalmem } from 'node:os';

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(resolve(path)), { recursive: true });
  writeBytesAtomic(path, typeof data === 'string' ? new TextEncoder().encode(data) : data);
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** One JSON object a line. */
export function writeJsonLinesAtomic(path: string, rows: readonly unknown[]): void {
  writeFileAtomic(path, rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  host: string;
  loadAverage: number[];
}

/** What a reader of the run needs to compare its speed with theirs. */
export function machineInfo(): MachineInfo {
  const c = cpus();
  return {
    cpu: c[0]?.model.trim() ?? 'unknown',
    cores: c.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${platform()} ${release()} ${arch()}`,
    node: process.version,
    host: hostname(),
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

/** runs/2026-11-30T16-05-12-cifarResNet20: sortable, one per start. */
export function defaultRunDir(model: string, now = new Date()): string {
  const stamp = now.toISOString().slice(0, 19).replace(/:/g, '-');
  return join('runs', `${stamp}-${model}`);
}
