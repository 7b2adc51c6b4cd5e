import { spawn } from 'node:child_process';
import { MembraneError } from './errors.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  /** Do not throw on a non-zero exit; return the result instead. */
  allowFailure?: boolean;
  timeoutMs?: number;
}

/**
 * Runs a command without a shell and collects its output. Throws a
 * MembraneError (EEXEC) naming the command and its stderr when it exits
 * non-zero, unless `allowFailure` is set.
 */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (cause) => {
      if (timer) clearTimeout(timer);
      reject(new MembraneError('EEXEC', `could not run ${cmd}: ${cause.message}`, { cause }));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const res = { code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
      if (res.code !== 0 && !opts.allowFailure) {
        reject(new MembraneError('EEXEC', `${cmd} ${args.join(' ')} failed (exit ${res.code}${signal ? `, ${signal}` : ''}): ${res.stderr.trim() || res.stdout.trim()}`));
        return;
      }
      resolve(res);
    });
    child.stdin.on('error', () => { /* the child may exit before reading its input */ });
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs `ip` with a batch of commands (one per line) in the given network namespace path, or the current one. */
export function ipBatch(lines: string[], netnsPath?: string): Promise<RunResult> {
  const input = lines.join('\n') + '\n';
  if (netnsPath) return run('nsenter', [`--net=${netnsPath}`, 'ip', '-batch', '-'], { input });
  return run('ip', ['-batch', '-'], { input });
}
