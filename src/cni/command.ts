/**
 * The shape every CNI command has: it gets the parsed invocation and a way to
 * leave notes for the invocation log, and returns what to print on stdout
 * (ADD's result, VERSION's answer) or nothing. Failures are thrown.
 */
import type { Invocation } from './config.js';

export interface CommandContext extends Invocation {
  /** A line for the log file (what was tolerated or cleaned up); never printed on stdout. */
  note(line: string): void;
}

export type CommandHandler = (ctx: CommandContext) => Promise<object | undefined>;
