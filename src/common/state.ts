import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';
import { MembraneError } from './errors.js';

/** Reads a JSON state file; `fallback` when it does not exist. Throws ESTATE when it is unreadable. */
export function readJsonState<T>(file: string, fallback: T): T {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return fallback;
    throw new MembraneError('ESTATE', `reading state file ${file} failed`, { cause: err });
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new MembraneError('ESTATE', `state file ${file} is not valid JSON; move it away to start over`, { cause: err });
  }
}

/** Writes a JSON state file atomically (temp file, fsync, rename): a crash leaves the old or the new file, never half of one. */
export function writeJsonState(file: string, value: unknown): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, JSON.stringify(value, null, 1) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}
