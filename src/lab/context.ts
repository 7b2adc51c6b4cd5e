import type { LabState } from './state.js';
import type { LabToolchain } from './toolchain.js';

/** Where lab operations write what they did (stdout) and what went wrong on the side (stderr). */
export interface LabOutput {
  info(line: string): void;
  warn(line: string): void;
}

export const consoleOutput: LabOutput = {
  info: (line) => process.stdout.write(line + '\n'),
  warn: (line) => process.stderr.write(line + '\n'),
};

/** What a mutating lab operation works on, under the lab's lock. */
export interface LabContext {
  lab: string;
  toolchain: LabToolchain;
  state: LabState;
  /** Persists `state` (atomically); called after every change that touched the machine. */
  save(): void;
  out: LabOutput;
}
