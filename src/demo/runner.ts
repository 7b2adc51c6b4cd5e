import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

/**
 * Runs a demo's commands as a user would type them: prints each command,
 * its output, then ✔ or ✘ for each check of it, and remembers the checks.
 */

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CheckRecord {
  step: string;
  what: string;
  ok: boolean;
  detail?: string;
}

export interface RunnerOptions {
  /** The membrane executable. */
  membrane: string;
  /** Where the story is written. */
  write: (text: string) => void;
  /** Working folder of the commands (and the base of the paths printed). */
  cwd: string;
  /** Colour the output (a terminal). */
  color?: boolean;
}

/** Quotes an argument for a POSIX shell only when it needs it, so printed commands can be pasted. */
export function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export class DemoRunner {
  readonly checks: CheckRecord[] = [];
  private step = '';
  private current: ChildProcess | undefined;
  private interrupted = false;

  constructor(private readonly opts: RunnerOptions) {}

  private style(code: string, text: string): string {
    return this.opts.color ? `\x1b[${code}m${text}\x1b[0m` : text;
  }

  heading(id: string, title: string): void {
    this.step = id;
    this.opts.write(`\n${this.style('1;34', `== ${title} ==`)}\n`);
  }

  say(text: string): void {
    this.opts.write(`${text}\n`);
  }

  /** The path to print for a file: relative to the working folder when inside it. */
  shown(file: string): string {
    const rel = path.relative(this.opts.cwd, file);
    return rel.startsWith('..') ? file : rel;
  }

  /** Runs `membrane args...`, printing the command and (unless `echo` is false) its output. */
  membrane(args: string[], { echo = true, timeoutMs = 180_000 }: { echo?: boolean; timeoutMs?: number } = {}): Promise<CommandResult> {
    this.interrupted = false;
    this.opts.write(`${this.style('1', `$ ${[this.shown(this.opts.membrane), ...args].map(shellQuote).join(' ')}`)}\n`);
    return new Promise((resolve) => {
      const child = spawn(this.opts.membrane, args, { cwd: this.opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
      this.current = child;
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.stdout.on('data', (c: Buffer) => { out.push(c); if (echo) this.opts.write(c.toString('utf8')); });
      child.stderr.on('data', (c: Buffer) => { err.push(c); this.opts.write(c.toString('utf8')); });
      child.on('error', (e) => {
        clearTimeout(timer);
        this.current = undefined;
        resolve({ code: 127, stdout: '', stderr: e.message });
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        this.current = undefined;
        resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
      });
    });
  }

  /** Records and prints one check; one of an interrupted command only fails (the command was stopped, not wrong). */
  check(what: string, ok: boolean, detail?: string): boolean {
    if (this.interrupted) return false;
    const record: CheckRecord = { step: this.step, what, ok };
    if (!ok && detail) record.detail = detail;
    this.checks.push(record);
    this.opts.write(ok ? `${this.style('32', '✔')} ${what}\n` : `${this.style('31', '✘')} ${what}${detail ? `: ${detail}` : ''}\n`);
    return ok;
  }

  get failed(): boolean {
    return this.checks.some((c) => !c.ok);
  }

  /** Stops the command running now (Ctrl-C); the checks of its output are not printed. */
  interrupt(): void {
    this.interrupted = true;
    this.current?.kill('SIGINT');
  }
}
