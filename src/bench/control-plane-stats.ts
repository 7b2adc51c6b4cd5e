/**
 * The control-plane benchmark's arithmetic: percentiles of latency samples
 * and the agent's resident memory read from /proc/<pid>/status. Pure.
 */

/**
 * The nearest-rank percentile: the smallest sample with at least p % of the
 * samples at or below it (p50 of 100 samples is the 50th smallest, p99 the
 * 99th). Always a measured value, never an interpolation. Throws on an empty
 * list or a p outside (0, 100].
 */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) throw new RangeError('percentile of no samples');
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile p must be in (0, 100], got ${p}`);
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.ceil((p / 100) * sorted.length) - 1]!;
}

export interface LatencySummary {
  n: number;
  p50: number;
  p99: number;
  min: number;
  max: number;
}

/** p50, p99 and range of `xs` (ms). Throws on an empty list. */
export function summarize(xs: readonly number[]): LatencySummary {
  return { n: xs.length, p50: percentile(xs, 50), p99: percentile(xs, 99), min: Math.min(...xs), max: Math.max(...xs) };
}

/**
 * VmRSS of a /proc/<pid>/status text, in kB (the kernel's "kB" is KiB).
 * Throws when the line is missing (a kernel thread, or a process that exited).
 */
export function parseVmRssKb(statusText: string): number {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(statusText);
  if (!m) throw new Error('no VmRSS line in /proc/<pid>/status (has the process exited?)');
  return Number(m[1]);
}

/** kB (KiB) to MB (MiB), one decimal. */
export function kbToMb(kb: number): number {
  return Math.round((kb / 1024) * 10) / 10;
}

/** `a / b` with two decimals, as a table cell ("×1.23"); "–" when b is 0. */
export function ratioCell(a: number, b: number): string {
  return b === 0 ? '–' : `×${(a / b).toFixed(2)}`;
}
