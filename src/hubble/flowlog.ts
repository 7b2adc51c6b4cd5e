/**
 * The node's on-disk flow log, as Hubble's exporter writes it: one JSON
 * object a line, `{"flow": {...}, "node_name": ..., "time": ...}` (the flow
 * in the API's shape), so tools that read `hubble observe --input-file`
 * read it too. The current file is `<path>`; when the next line would take
 * it past the size limit it becomes `<path>.1`, the older ones shift up
 * (`<path>.2`, ...) and the one past `maxBackups` is deleted.
 *
 * The pipeline calls `onFlow` synchronously for every flow and must never
 * wait on the disk: flows that pass the allow/deny lists are queued and
 * written asynchronously in batches. The queue is bounded; when the disk is
 * slower than the flows (or a write fails) flows are dropped and counted,
 * never buffered without limit.
 *
 * Readers (src/hubble/history.ts) take a `snapshot()`: the files opened at
 * one instant together with the flows still queued, so a read sees a
 * consistent log while the writer goes on (open handles survive rotation).
 */
import { type FileHandle, mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { MembraneError, ValidationError, errorMessage } from '../common/errors.js';
import { type FlowFilter, type FlowPredicate, compileFlowFilters, parseFlowFilters } from './filter.js';
import type { Flow } from './flow.js';

export const DEFAULT_EXPORT_MAX_SIZE_MB = 10;
export const DEFAULT_EXPORT_MAX_BACKUPS = 5;
/** Flows waiting for the disk at most: about four seconds of a busy node, a few MiB of memory. */
export const DEFAULT_MAX_PENDING_FLOWS = 16_384;
/** Flows serialized and written per write call. */
const BATCH_FLOWS = 2_048;

export interface FlowLogOptions {
  /** The current file; rotated files are `<path>.1` (newest) ... `<path>.<maxBackups>`. */
  path: string;
  /** A file is rotated before a line would take it past this size. */
  maxSizeBytes: number;
  /** Rotated files kept; 0 keeps none (the current file starts over). */
  maxBackups: number;
  /** Only flows matching one of these are written (none: every flow). */
  allowlist?: FlowFilter[];
  /** Flows matching one of these are not written. */
  denylist?: FlowFilter[];
  /** Queue bound; past it flows are dropped and counted. Default DEFAULT_MAX_PENDING_FLOWS. */
  maxPendingFlows?: number;
  /** A failed write or rotation (its flows are counted as dropped). Default: ignored. */
  onError?: (err: Error) => void;
}

/** One line of the log: Hubble's exporter shape. */
export function flowLogLine(f: Flow): string {
  return JSON.stringify({ flow: f, node_name: f.node_name, time: f.time }) + '\n';
}

/** The files of a log, oldest first: `<path>.N` ... `<path>.1`, then `<path>` (those that exist). */
export async function flowLogFiles(logPath: string): Promise<string[]> {
  const dir = path.dirname(logPath);
  const base = path.basename(logPath);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const rotated = names
    .map((n) => (n.startsWith(`${base}.`) ? /^\d+$/.exec(n.slice(base.length + 1))?.[0] : undefined))
    .filter((n): n is string => n !== undefined && Number(n) > 0)
    .map(Number)
    .sort((a, b) => b - a)
    .map((n) => `${logPath}.${n}`);
  return names.includes(base) ? [...rotated, logPath] : rotated;
}

/** A file of a snapshot: open, and read only up to `size` (what was written when the snapshot was taken). */
export interface FlowLogFile {
  name: string;
  handle: FileHandle;
  size: number;
}

/** The log at one instant: its files oldest first, then the flows still queued; `value` is what `atSeam` returned. */
export interface FlowLogSnapshot<T> {
  files: FlowLogFile[];
  pending: Flow[];
  value: T;
  /** Closes the files; call once done reading. */
  release(): Promise<void>;
}

export interface FlowLogStats {
  path: string;
  /** Flows written to the log since the agent started. */
  written: number;
  /** Flows lost because the queue was full (the disk slower than the flows) or a write failed. */
  dropped: number;
}

export class FlowLogWriter {
  private handle?: FileHandle;
  /** Bytes in the current file. */
  private size = 0;
  private readonly pending: Flow[] = [];
  private readonly maxPending: number;
  /** The export filters, compiled once: they run on every flow of the pipeline. */
  private readonly passes: FlowPredicate;
  private writtenCount = 0;
  private droppedCount = 0;
  private scheduled = false;
  private writing = false;
  /** Snapshots being opened: no write (so no rotation) starts meanwhile. */
  private paused = 0;
  private closed = false;
  /** Resolved whenever the writer stops writing (idle, paused or closed). */
  private idleWaiters: (() => void)[] = [];

  private constructor(private readonly opts: FlowLogOptions, readonly startedOnEarlierFlows: boolean) {
    this.maxPending = opts.maxPendingFlows ?? DEFAULT_MAX_PENDING_FLOWS;
    this.passes = compileFlowFilters(opts.allowlist, opts.denylist);
  }

  /**
   * Opens (appends to) the log, creating its directory, and removes rotated
   * files past `maxBackups`. Throws MembraneError when the path is unusable,
   * so an agent with a bad path does not start.
   */
  static async open(opts: FlowLogOptions): Promise<FlowLogWriter> {
    try {
      await mkdir(path.dirname(opts.path), { recursive: true, mode: 0o700 });
      const existing = await flowLogFiles(opts.path);
      const sizes = await Promise.all(existing.map((f) => stat(f).then((s) => s.size)));
      const writer = new FlowLogWriter(opts, sizes.some((s) => s > 0));
      await writer.pruneBackups();
      await writer.openCurrent();
      return writer;
    } catch (cause) {
      throw new MembraneError('EINVAL', `flow log ${opts.path}: cannot open it for writing (${errorMessage(cause)}); check the directory exists or can be made and is writable`, { cause });
    }
  }

  get stats(): FlowLogStats {
    return { path: this.opts.path, written: this.writtenCount, dropped: this.droppedCount };
  }

  /** The pipeline's listener: filters the flow and queues it, or drops and counts it. Never waits, never throws. */
  readonly onFlow = (f: Flow): void => {
    if (this.closed || !this.passes(f)) return;
    if (this.pending.length >= this.maxPending) {
      this.droppedCount++;
      return;
    }
    this.pending.push(f);
    this.schedule();
  };

  /** Resolves once every flow queued before the call is written (or dropped). */
  async flush(): Promise<void> {
    while (this.pending.length > 0 || this.writing || this.scheduled) {
      if (this.closed && !this.writing) return;
      if (!this.writing && this.paused === 0) this.startWriting();
      await this.untilIdle();
    }
  }

  /**
   * The log as it is now: waits for the write in progress, then at one
   * instant calls `atSeam` (a reader snapshots the ring there), copies the
   * queued flows and notes the current file's size; then opens every file
   * while no rotation can happen. The caller must `release()` it.
   */
  async snapshot<T>(atSeam: () => T): Promise<FlowLogSnapshot<T>> {
    this.paused++;
    const files: FlowLogFile[] = [];
    try {
      while (this.writing) await this.untilIdle();
      const value = atSeam();
      const pending = this.pending.slice();
      const currentSize = this.size;
      for (const name of await flowLogFiles(this.opts.path)) {
        let handle: FileHandle;
        try {
          handle = await open(name, 'r');
        } catch {
          continue; // removed by hand meanwhile: nothing to read
        }
        const size = name === this.opts.path ? currentSize : (await handle.stat()).size;
        files.push({ name, handle, size });
      }
      return { files, pending, value, release: async () => { await Promise.all(files.map((f) => f.handle.close().catch(() => undefined))); } };
    } catch (err) {
      await Promise.all(files.map((f) => f.handle.close().catch(() => undefined)));
      throw err;
    } finally {
      this.paused--;
      if (this.paused === 0) this.schedule();
    }
  }

  /** Writes what is queued and closes the file; later flows are ignored. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    while (this.writing) await this.untilIdle();
    await this.handle?.close().catch(() => undefined);
    this.handle = undefined;
  }

  private schedule(): void {
    if (this.scheduled || this.writing || this.paused > 0) return;
    // One tick later, so the flows of a whole event batch go out in one write.
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.startWriting();
    });
  }

  private startWriting(): void {
    if (this.writing || this.paused > 0 || this.pending.length === 0) {
      this.notifyIdle();
      return;
    }
    this.writing = true;
    void this.drain();
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0 && this.paused === 0) {
        const batch = this.pending.splice(0, BATCH_FLOWS);
        try {
          await this.writeBatch(batch);
        } catch (err) {
          this.opts.onError?.(err as Error);
        }
      }
    } finally {
      this.writing = false;
      this.notifyIdle();
    }
  }

  private untilIdle(): Promise<void> {
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Writes the lines in as few calls as rotation allows; on failure the unwritten flows count as dropped. */
  private async writeBatch(batch: Flow[]): Promise<void> {
    let chunk = '';
    let chunkBytes = 0;
    let chunkFlows = 0;
    let done = 0;
    try {
      for (const f of batch) {
        const line = flowLogLine(f);
        const bytes = Buffer.byteLength(line);
        if (this.size + chunkBytes + bytes > this.opts.maxSizeBytes && this.size + chunkBytes > 0) {
          await this.append(chunk, chunkBytes);
          done += chunkFlows;
          this.writtenCount += chunkFlows;
          chunk = '';
          chunkBytes = 0;
          chunkFlows = 0;
          await this.rotate();
        }
        chunk += line;
        chunkBytes += bytes;
        chunkFlows++;
      }
      await this.append(chunk, chunkBytes);
      this.writtenCount += chunkFlows;
    } catch (cause) {
      this.droppedCount += batch.length - done;
      throw new MembraneError('EKERNEL', `flow log ${this.opts.path}: writing ${batch.length - done} flows failed, they are dropped: ${errorMessage(cause)}`, { cause });
    }
  }

  private async append(text: string, bytes: number): Promise<void> {
    if (bytes === 0) return;
    if (!this.handle) await this.openCurrent();
    try {
      await this.handle!.write(text);
      this.size += bytes;
    } catch (err) {
      // A handle that failed once is reopened for the next batch (the file may have been removed by hand).
      await this.handle?.close().catch(() => undefined);
      this.handle = undefined;
      throw err;
    }
  }

  private async openCurrent(): Promise<void> {
    this.handle = await open(this.opts.path, 'a', 0o600);
    this.size = (await this.handle.stat()).size;
  }

  /** `<path>` -> `<path>.1`, `<path>.N` -> `<path>.N+1`; the one past maxBackups is deleted. */
  private async rotate(): Promise<void> {
    await this.handle?.close().catch(() => undefined);
    this.handle = undefined;
    const p = this.opts.path;
    const max = this.opts.maxBackups;
    if (max === 0) {
      await unlink(p).catch(ignoreMissing);
    } else {
      await unlink(`${p}.${max}`).catch(ignoreMissing);
      for (let i = max - 1; i >= 1; i--) await rename(`${p}.${i}`, `${p}.${i + 1}`).catch(ignoreMissing);
      await rename(p, `${p}.1`).catch(ignoreMissing);
    }
    await this.openCurrent();
  }

  /** Rotated files past maxBackups (left by a run with a larger setting) are removed. */
  private async pruneBackups(): Promise<void> {
    const p = this.opts.path;
    for (const f of await flowLogFiles(p)) {
      const n = f === p ? 0 : Number(f.slice(p.length + 1));
      if (n > this.opts.maxBackups) await unlink(f).catch(ignoreMissing);
    }
  }
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err;
}

/** The agent's export flags, as commander hands them over (absent when not given). */
export interface FlowExportFlags {
  hubbleExportFilePath?: string;
  hubbleExportFileMaxSizeMb?: string;
  hubbleExportFileMaxBackups?: string;
  hubbleExportAllowlist?: string;
  hubbleExportDenylist?: string;
}

/**
 * The `--hubble-export-*` flags as FlowLogOptions, or undefined when no
 * file path is given (export off). Throws EINVAL naming the flag for a bad
 * value, and for a size, backups or list given without a path (they would
 * silently do nothing).
 */
export function flowLogOptionsFromFlags(f: FlowExportFlags): Omit<FlowLogOptions, 'onError'> | undefined {
  const filePath = f.hubbleExportFilePath;
  if (filePath === undefined || filePath === '') {
    const stray = (['hubbleExportFileMaxSizeMb', 'hubbleExportFileMaxBackups', 'hubbleExportAllowlist', 'hubbleExportDenylist'] as const)
      .find((k) => f[k] !== undefined);
    if (stray) throw new ValidationError(`--${kebab(stray)}`, 'needs --hubble-export-file-path (the flow log is off without it)');
    return undefined;
  }
  if (filePath.endsWith('/')) throw new ValidationError('--hubble-export-file-path', `"${filePath}" is a directory; give a file path, e.g. /var/run/membrane/hubble/events.log`);
  const sizeText = f.hubbleExportFileMaxSizeMb ?? String(DEFAULT_EXPORT_MAX_SIZE_MB);
  const sizeMb = Number(sizeText);
  if (sizeText.trim() === '' || !Number.isFinite(sizeMb) || sizeMb <= 0) {
    throw new ValidationError('--hubble-export-file-max-size-mb', `"${sizeText}" is not a positive number of megabytes, e.g. 10`);
  }
  const backupsText = f.hubbleExportFileMaxBackups ?? String(DEFAULT_EXPORT_MAX_BACKUPS);
  if (!/^\d+$/.test(backupsText)) throw new ValidationError('--hubble-export-file-max-backups', `"${backupsText}" is not a whole number of files (0 or more)`);
  const opts: Omit<FlowLogOptions, 'onError'> = {
    path: path.resolve(filePath), maxSizeBytes: Math.max(1, Math.round(sizeMb * 1024 * 1024)), maxBackups: Number(backupsText),
  };
  const allowlist = filterList(f.hubbleExportAllowlist, '--hubble-export-allowlist');
  const denylist = filterList(f.hubbleExportDenylist, '--hubble-export-denylist');
  if (allowlist) opts.allowlist = allowlist;
  if (denylist) opts.denylist = denylist;
  return opts;
}

/** A JSON array of FlowFilters (or one FlowFilter object, as Cilium's config often gives it). */
function filterList(text: string | undefined, flag: string): FlowFilter[] | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new ValidationError(flag, `"${text}" is not JSON; give an array of FlowFilters like '[{"verdict":["DROPPED"]}]' (${errorMessage(cause)})`, { cause });
  }
  return parseFlowFilters(Array.isArray(parsed) ? parsed : [parsed], flag);
}

const kebab = (camel: string) => camel.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
