/**
 * membrane-cni: the CNI plugin container runtimes execute (spec 1.0.0 and
 * 1.1.0), as a process: stdin and CNI_* in, stdout and the exit code out,
 * with the invocation itself in run.ts (which the agent runs too, for the
 * compiled shim's fast path, and falls back to this process when the agent
 * cannot be reached).
 *
 * The plugin is on every pod's start-up path: each command's module (and
 * the agent client) is imported only when that command runs, and starts
 * loading (CNI_COMMAND tells which) while stdin is still being read.
 */
import { fstatSync, readSync } from 'node:fs';
import { CniAgentClient } from './agent-client.js';
import { runInvocation } from './run.js';

/**
 * The network configuration. Runtimes write it to a pipe and close it, so
 * one blocking read is enough and cheaper than a stream; a non-blocking
 * stdin (EAGAIN) falls back to the stream. A character device (a terminal,
 * /dev/null) gives nothing: a read could wait forever. (Not tty.isatty:
 * node:tty loads node:net, 2 ms of every VERSION.)
 */
async function readStdin(): Promise<string> {
  if (fstatSync(0).isCharacterDevice()) return '';
  // Blocking reads until the end; what was read before an EAGAIN is kept for the stream to go on from.
  const chunks: Buffer[] = [];
  const buf = Buffer.allocUnsafe(64 * 1024);
  try {
    for (;;) {
      const n = readSync(0, buf, 0, buf.length, null);
      if (n === 0) return Buffer.concat(chunks).toString('utf8');
      chunks.push(Buffer.from(buf.subarray(0, n)));
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
  }
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

// performance.now() counts from the process's start: this is Node's start-up.
const startupMs = performance.now();
const { stdout, exitCode } = await runInvocation({
  env: process.env,
  stdin: readStdin,
  connectAgent: (socket, timeoutMs) => new CniAgentClient(socket, timeoutMs),
  servedBy: 'plugin',
  startupMs,
});
if (stdout) process.stdout.write(stdout);
process.exitCode = exitCode;
