/**
 * The shape every CNI command has: it gets the parsed invocation, its agent, a way to
 * leave notes for the invocation log, and a stopwatch for its steps, and
 * returns what to print on stdout (ADD's result, VERSION's answer) or
 * nothing. Failures are thrown.
 */
import type { CniAgentApi } from './agent-client.js';
import type { Invocation } from './config.js';

export interface CommandContext extends Invocation {
  /** The agent named by the configuration's agentSocket (over its socket, or in-process inside the agent). */
  agent: CniAgentApi;
  /** A line for the log file (what was tolerated or cleaned up); never printed on stdout. */
  note(line: string): void;
  /**
   * Runs `work` and records how long it took under `step` (the log file's
   * `stepsMs`), whether it succeeds or fails: where an invocation's time goes.
   */
  timed<T>(step: string, work: () => Promise<T>): Promise<T>;
}

export type CommandHandler = (ctx: CommandContext) => Promise<object | undefined>;
