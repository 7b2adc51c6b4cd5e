/**
 * Reading flow logs: the node's own (src/hubble/flowlog.ts), Hubble's
 * exporter files and `hubble observe -o json` output (both one
 * `{"flow": {...}, "node_name", "time"}` a line), and plain flow JSON lines.
 * Everything streams line by line: a log of any size is read in bounded
 * memory.
 */
import type { FileHandle } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { Flow } from './flow.js';

/**
 * One line as a flow, or undefined for what is not one: a blank or broken
 * line (a log cut short by a crash), or another kind of event (lost events,
 * node status, agent events).
 */
export function parseFlowLine(line: string): Flow | undefined {
  const text = line.trim();
  if (!text.startsWith('{')) return undefined;
  let obj: Record<string, unknown>;
  try {
    obj = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof obj !== 'object' || obj === null) return undefined;
  const wrapped = obj['flow'];
  if (typeof wrapped === 'object' && wrapped !== null) {
    const flow = wrapped as Flow & Record<string, unknown>;
    // Hubble's lines may carry the node and time only beside the flow.
    if (flow.node_name === undefined && typeof obj['node_name'] === 'string') flow.node_name = obj['node_name'];
    if (flow.time === undefined && typeof obj['time'] === 'string') flow.time = obj['time'];
    return typeof flow.time === 'string' ? flow : undefined;
  }
  if ('lost_events' in obj || 'node_status' in obj || 'agent_event' in obj || 'debug_event' in obj) return undefined;
  return typeof obj['time'] === 'string' ? (obj as unknown as Flow) : undefined;
}

/** The flows of a stream of lines (a file, stdin), in order. */
export async function* flowsOfStream(input: Readable): AsyncGenerator<Flow> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      const f = parseFlowLine(line);
      if (f) yield f;
    }
  } finally {
    lines.close();
  }
}

/** The flows of the first `size` bytes of an open file, in order (the handle stays open). */
export function flowsOfFile(handle: FileHandle, size: number): AsyncGenerator<Flow> {
  if (size <= 0) return (async function* () { /* empty */ })();
  return flowsOfStream(handle.createReadStream({ start: 0, end: size - 1, autoClose: false }));
}

/** How far from each end of a file to look for its first and last line. */
const EDGE_BYTES = 64 * 1024;

/**
 * The times of the first and last flows of the first `size` bytes of a
 * file, read from its two ends only; undefined where no whole flow line is
 * found there (the caller then reads the file).
 */
export async function fileTimeRange(handle: FileHandle, size: number): Promise<{ firstMs?: number; lastMs?: number }> {
  const out: { firstMs?: number; lastMs?: number } = {};
  if (size <= 0) return out;
  const headLen = Math.min(size, EDGE_BYTES);
  const head = Buffer.alloc(headLen);
  await handle.read(head, 0, headLen, 0);
  const headText = head.toString('utf8');
  const firstEnd = headText.indexOf('\n');
  const first = parseFlowLine(firstEnd >= 0 ? headText.slice(0, firstEnd) : headText);
  if (first) out.firstMs = Date.parse(first.time);

  const tailStart = Math.max(0, size - EDGE_BYTES);
  const tail = Buffer.alloc(size - tailStart);
  await handle.read(tail, 0, tail.length, tailStart);
  const lines = tail.toString('utf8').split('\n');
  // The last non-empty line; the first piece is partial unless the tail is the whole file.
  for (let i = lines.length - 1; i >= (tailStart === 0 ? 0 : 1); i--) {
    const f = parseFlowLine(lines[i]!);
    if (f) {
      out.lastMs = Date.parse(f.time);
      break;
    }
  }
  return out;
}
