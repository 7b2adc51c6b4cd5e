/**
 * The trace aggregation settings (Cilium's --monitor-aggregation,
 * --monitor-aggregation-interval, --monitor-aggregation-flags): which
 * forwarded packets the datapath reports as trace events. Parsing and
 * encoding only; the agent writes the result into the `config` map.
 */
import { ValidationError } from '../common/errors.js';
import { TRACE_LEVELS, type TraceLevel, datapathConfig } from './layout.js';

export interface TraceConfig {
  level: TraceLevel;
  /** TCP flag bits whose first appearance in a connection direction is reported (medium, maximum). */
  flags: number;
  /** medium: the periodic report of a connection direction, in seconds. */
  intervalS: number;
}

export const DEFAULT_TRACE_CONFIG: TraceConfig = { level: 'medium', flags: 0xff, intervalS: 5 };

const FLAG_BITS: Record<string, number> = { fin: 0x01, syn: 0x02, rst: 0x04, psh: 0x08, ack: 0x10, urg: 0x20, ece: 0x40, cwr: 0x80 };

export function parseTraceLevel(text: string, flag = '--monitor-aggregation'): TraceLevel {
  const v = text.trim().toLowerCase();
  if (v in TRACE_LEVELS) return v as TraceLevel;
  throw new ValidationError(flag, `"${text}" is not a level; use one of ${Object.keys(TRACE_LEVELS).join(', ')}`);
}

/** "all", or TCP flag names separated by commas ("syn,fin,rst"), as Cilium's --monitor-aggregation-flags. */
export function parseTraceFlags(text: string, flag = '--monitor-aggregation-flags'): number {
  const names = text.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
  if (names.length === 0) throw new ValidationError(flag, 'empty; use "all" or TCP flag names like syn,fin,rst');
  let bits = 0;
  for (const name of names) {
    if (name === 'all') bits = 0xff;
    else if (FLAG_BITS[name] !== undefined) bits |= FLAG_BITS[name];
    else throw new ValidationError(flag, `"${name}" is not a TCP flag; use all or ${Object.keys(FLAG_BITS).join(', ')}`);
  }
  return bits;
}

/** "5s", "1m", or plain seconds; 1 s to 65535 s (the datapath's trace clock wraps at 2^16 s). */
export function parseTraceInterval(text: string, flag = '--monitor-aggregation-interval'): number {
  const m = /^(\d+)(s|m|h)?$/.exec(text.trim());
  const seconds = m ? Number(m[1]) * ({ s: 1, m: 60, h: 3600 }[(m[2] ?? 's') as 's' | 'm' | 'h']) : NaN;
  if (!(seconds >= 1 && seconds <= 65535)) {
    throw new ValidationError(flag, `"${text}" is not a duration between 1s and 65535s (e.g. 5s, 1m)`);
  }
  return seconds;
}

export function encodeTraceConfig(c: TraceConfig): Buffer {
  return datapathConfig.encode({ valid: 1, traceLevel: TRACE_LEVELS[c.level], traceFlags: c.flags, traceIntervalS: c.intervalS });
}
