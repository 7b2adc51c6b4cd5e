/**
 * A small undo stack for ADD: every side effect registers how to undo it
 * before (or right after) it happens; on failure the undos run in reverse
 * order, each one attempted even when an earlier one fails.
 */
import { errorMessage } from '../common/errors.js';

export interface UndoHandle {
  /** Drops this undo, e.g. when a later step took over the resource (the endpoint now owns the IP). */
  dismiss(): void;
}

interface Entry {
  what: string;
  undo: () => Promise<unknown>;
  dismissed: boolean;
}

export class Rollback {
  private readonly entries: Entry[] = [];

  /** Registers `undo`, described by `what` ("release IP 10.0.0.7"), to run if ADD fails later. */
  push(what: string, undo: () => Promise<unknown>): UndoHandle {
    const entry: Entry = { what, undo, dismissed: false };
    this.entries.push(entry);
    return { dismiss: () => { entry.dismissed = true; } };
  }

  /**
   * Runs the undos, last first, and empties the stack. Never throws: returns
   * one line per undo that failed, for the error's details and the log.
   */
  async run(): Promise<string[]> {
    const failures: string[] = [];
    while (this.entries.length > 0) {
      const entry = this.entries.pop()!;
      if (entry.dismissed) continue;
      try {
        await entry.undo();
      } catch (err) {
        failures.push(`rollback: could not ${entry.what}: ${errorMessage(err)}`);
      }
    }
    return failures;
  }
}
