/**
 * The datapath's reason table, read from bpf/lib/reasons.def (the one
 * definition shared with the C code): code -> C name, description as users
 * read it ("Policy denied"), and Hubble's DropReason enum name.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface Reason {
  code: number;
  name: string;
  description: string;
  hubble: string;
}

export const REASONS_FILE = fileURLToPath(new URL('../../bpf/lib/reasons.def', import.meta.url));

export function parseReasons(text: string): Map<number, Reason> {
  const out = new Map<number, Reason>();
  const re = /^REASON\((\d+),\s*(\w+),\s*"([^"]*)",\s*(\w+)\)\s*$/;
  for (const line of text.split('\n')) {
    const m = re.exec(line.trim());
    if (m) out.set(Number(m[1]), { code: Number(m[1]), name: m[2]!, description: m[3]!, hubble: m[4]! });
  }
  return out;
}

export const REASONS: ReadonlyMap<number, Reason> = parseReasons(readFileSync(REASONS_FILE, 'utf8'));

export function reasonDescription(code: number): string {
  return REASONS.get(code)?.description ?? `Unknown reason ${code}`;
}

export function reasonHubbleName(code: number): string {
  return REASONS.get(code)?.hubble ?? 'DROP_REASON_UNKNOWN';
}
