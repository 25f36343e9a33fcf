/** Build the lab page into `outDir` (default dist/lab); returns its absolute path. */
export function buildLab(opts?: { outDir?: string; minify?: boolean; sourcemap?: boolean }): Promise<string>;
