/**
 * The invocation log (`logFile` in the network configuration): one JSON line
 * per invocation, appended, so an operator can follow what the runtime asked
 * and how it went. Logging never fails an invocation.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export interface InvocationLogEntry {
  time: string; // ISO 8601
  command: string;
  containerId?: string;
  ifName?: string;
  netns?: string;
  outcome: 'ok' | 'error';
  code?: number;
  msg?: string;
  /** Who ran it: the plugin process, or the agent (POST /v1/cni, the compiled shim's fast path). */
  servedBy?: 'plugin' | 'agent';
  /** From the process's start to the entry, the Node.js start-up included (in the agent: from the request's start). */
  durationMs: number;
  /** Node.js start-up: from the process's start to the plugin's first line. */
  startupMs?: number;
  /** The command's steps (CommandContext.timed), in the order they started; steps run at once overlap. */
  stepsMs?: Record<string, number>;
  notes?: string[];
}

export function formatLogEntry(entry: InvocationLogEntry): string {
  return JSON.stringify(entry) + '\n';
}

export function appendInvocationLog(file: string, entry: InvocationLogEntry): void {
  try {
    mkdirSync(dirname(file), { recursive: true });
    appendFileSync(file, formatLogEntry(entry));
  } catch (err) {
    // stderr, never stdout: stdout carries only the result or error JSON.
    process.stderr.write(`membrane-cni: could not write the log file ${file}: ${(err as Error).message}\n`);
  }
}
