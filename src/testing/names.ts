import { randomBytes } from 'node:crypto';

/**
 * A short name unique to this test run, for namespaces, links, pin paths and
 * sockets, so tests can run concurrently and never collide with a leftover of
 * an earlier run. `prefix` + 6 hex chars; keep prefix short (link names are
 * limited to 15 characters).
 */
export function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(3).toString('hex')}`;
}

/** Fails loudly (never skips) when a privileged test runs without root. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('this test needs root (network namespaces, BPF): run npm test as root');
  }
}
