import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { MembraneError } from '../common/errors.js';
import type { ProcessRef } from './state.js';

/**
 * The processes a lab starts (agents, pod workloads): detached in their own
 * session, output to a log file, remembered by pid *and* start time so a
 * recycled pid is never mistaken for ours.
 */

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or undefined when gone. */
export function processStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: split after its last ")".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined; // a zombie is dead
  return fields[19];
}

/** Whether the process the lab started is still running. */
export function isRunning(ref: ProcessRef | undefined): boolean {
  return ref !== undefined && processStartTime(ref.pid) === ref.startTime;
}

export interface DetachedOptions {
  logFile: string;
  env: NodeJS.ProcessEnv;
}

/**
 * Starts `argv` in a new session (its pid is also its process group id),
 * stdout and stderr appended to `logFile`, and returns without waiting.
 */
export function spawnDetached(argv: string[], opts: DetachedOptions): ProcessRef {
  const fd = fs.openSync(opts.logFile, 'a', 0o600);
  try {
    const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', fd, fd], env: opts.env });
    const pid = child.pid;
    if (pid === undefined) throw new MembraneError('EEXEC', `could not start ${argv.join(' ')}`);
    child.on('error', () => { /* reported through the missing process */ });
    child.unref();
    const startTime = processStartTime(pid);
    if (startTime === undefined) {
      throw new MembraneError('EEXEC', `${argv.join(' ')} exited at once; see ${opts.logFile}`);
    }
    return { pid, startTime };
  } finally {
    fs.closeSync(fd);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/**
 * Stops a process the lab started: SIGTERM, then SIGKILL after `graceMs`.
 * Does nothing when it is gone or its pid now belongs to another process.
 */
export async function stopProcess(ref: ProcessRef, graceMs = 10_000): Promise<void> {
  if (!isRunning(ref)) return;
  signal(ref.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isRunning(ref)) return;
    await sleep(50);
  }
  signal(ref.pid, 'SIGKILL');
  const killDeadline = Date.now() + 5_000;
  while (Date.now() < killDeadline) {
    if (!isRunning(ref)) return;
    await sleep(50);
  }
  throw new MembraneError('EEXEC', `process ${ref.pid} survived SIGKILL`);
}

/**
 * Stops the given processes (found living in one of the lab's own network
 * namespaces): SIGTERM, then SIGKILL after `graceMs`.
 */
export async function stopPids(pids: number[], graceMs = 5_000): Promise<void> {
  const started = new Map(pids.map((p) => [p, processStartTime(p)] as const));
  const alive = () => pids.filter((p) => started.get(p) !== undefined && processStartTime(p) === started.get(p));
  for (const p of alive()) signal(p, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && alive().length > 0) await sleep(50);
  for (const p of alive()) signal(p, 'SIGKILL');
  const killDeadline = Date.now() + 5_000;
  while (Date.now() < killDeadline && alive().length > 0) await sleep(50);
}

/** Whether some socket in `pid`'s network namespace listens on TCP `port` (read from /proc/<pid>/net/tcp{,6}). */
export function isListening(pid: number, port: number): boolean {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(`/proc/${pid}/net/${file}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // cols[1] = local "ADDR:PORT", cols[3] = state, 0A = LISTEN
      if (cols[3] === '0A' && cols[1]?.endsWith(`:${hexPort}`)) return true;
    }
  }
  return false;
}
