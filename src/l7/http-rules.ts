/**
 * HTTP rules (`toPorts[].rules.http`) compiled into a matcher, with the
 * semantics of Cilium's proxy:
 *
 *   1. A request passes when ANY rule matches; no rules at all (`http: []`)
 *      pass everything.
 *   2. Within a rule every given field must match; an empty rule `{}`
 *      matches everything. An empty string is a field not given.
 *   3. `method`, `path` and `host` are POSIX extended regular expressions
 *      matched against the whole text: `path` against the request target
 *      as sent (path and query, as Envoy's `:path`), `host` against the
 *      Host header (port included when the client sent one).
 *   4. `headers` entries are "Name" (the header is present) or
 *      "Name: value" (its value is exactly `value`). Header names compare
 *      case-insensitively; a header sent several times compares as its
 *      values joined with ",".
 *   5. `headerMatches` entries are checked only on a rule whose fields of 2-4
 *      matched. A `value` asks for that exact value, no `value` for
 *      presence. On a mismatch, `mismatch` decides:
 *        (none)   the rule fails;
 *        LOG      the rule still matches; the mismatch is reported;
 *        ADD      the header is added with `value` (next to any other value);
 *        DELETE   the mismatching header is removed (a failed presence
 *                 match has nothing to remove);
 *        REPLACE  the header is set to `value` (added when missing).
 *      Actions take effect on the request as later rules see it, and on the
 *      request forwarded.
 *   6. When no rule has headerMatches, the first matching rule decides;
 *      otherwise every rule is evaluated so that every action runs, and
 *      the request passes when any rule matched (as Cilium's proxy does).
 *
 * Pure.
 */
import { ValidationError } from '../common/errors.js';
import type { HttpHeaderMatch, HttpRule } from '../policy/types.js';
import { compileAnchoredEre, EreSyntaxError } from './posix-regex.js';

/** One header field, name as sent. */
export type HeaderField = readonly [name: string, value: string];

/** What a matcher sees of a request. */
export interface HttpRequestView {
  method: string;
  /** The request target in origin form (path and query), as sent. */
  path: string;
  /** The Host header; empty when the request has none. */
  host: string;
  headers: readonly HeaderField[];
}

/**
 * A headerMatches mismatch and what was done about it. LOG only reports;
 * ADD, DELETE and REPLACE change the forwarded request (`value` of a
 * DELETE is the value removed).
 */
export interface HeaderAction {
  action: 'LOG' | 'ADD' | 'DELETE' | 'REPLACE';
  name: string;
  value: string;
}

export interface HttpVerdict {
  allowed: boolean;
  /** Index of the first rule that matched. */
  rule?: number;
  /** In the order they happened; apply with applyHeaderActions. */
  actions: HeaderAction[];
  /** The policy rules behind the decision (their cookies) and, when not the connection's own, the side they belong to; set by the proxy process. */
  cookies?: number[];
  policyDirection?: 'INGRESS' | 'EGRESS';
}

export type HttpMatcher = (req: HttpRequestView) => HttpVerdict;

interface HeaderTest {
  /** Lower case. */
  name: string;
  /** Undefined: presence only. */
  value?: string;
}

interface CompiledHeaderMatch extends HeaderTest {
  /** As written, for the header actions. */
  displayName: string;
  mismatch?: HttpHeaderMatch['mismatch'];
}

interface CompiledRule {
  method?: RegExp;
  path?: RegExp;
  host?: RegExp;
  headers: HeaderTest[];
  headerMatches: CompiledHeaderMatch[];
}

function regexField(value: string | undefined, path: string): RegExp | undefined {
  if (value === undefined || value === '') return undefined;
  try {
    return compileAnchoredEre(value);
  } catch (err) {
    if (err instanceof EreSyntaxError) {
      throw new ValidationError(path, `not a POSIX extended regular expression: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

/** "Name" or "Name: value" (split at the first space, the name's trailing colons dropped, as Cilium reads it). */
function headerTest(entry: string, path: string): HeaderTest {
  const space = entry.indexOf(' ');
  const rawName = space < 0 ? entry : entry.slice(0, space).replace(/:+$/, '');
  if (rawName === '') throw new ValidationError(path, `${JSON.stringify(entry)} names no header; write "Name" or "Name: value"`);
  if (rawName.includes(':')) {
    throw new ValidationError(path, `${JSON.stringify(entry)} is not a header name; write "Name: value" with a space after the colon`);
  }
  return space < 0 ? { name: rawName.toLowerCase() } : { name: rawName.toLowerCase(), value: entry.slice(space + 1) };
}

function headerMatch(m: HttpHeaderMatch, path: string): CompiledHeaderMatch {
  if (m.secret !== undefined) {
    throw new ValidationError(`${path}.secret`, 'secret references are not supported by membrane; give the value inline in "value"');
  }
  if (!m.name) throw new ValidationError(`${path}.name`, 'a header match needs a header name');
  const value = m.value === undefined || m.value === '' ? undefined : m.value;
  if (value === undefined && (m.mismatch === 'ADD' || m.mismatch === 'REPLACE')) {
    throw new ValidationError(`${path}.mismatch`, `${m.mismatch} needs a "value" to set the header to`);
  }
  const out: CompiledHeaderMatch = { name: m.name.toLowerCase(), displayName: m.name };
  if (value !== undefined) out.value = value;
  if (m.mismatch !== undefined) out.mismatch = m.mismatch;
  return out;
}

function compileRule(rule: HttpRule, path: string): CompiledRule {
  const out: CompiledRule = {
    headers: (rule.headers ?? []).map((h, i) => headerTest(h, `${path}.headers[${i}]`)),
    headerMatches: (rule.headerMatches ?? []).map((m, i) => headerMatch(m, `${path}.headerMatches[${i}]`)),
  };
  const method = regexField(rule.method, `${path}.method`);
  const reqPath = regexField(rule.path, `${path}.path`);
  const host = regexField(rule.host, `${path}.host`);
  if (method) out.method = method;
  if (reqPath) out.path = reqPath;
  if (host) out.host = host;
  return out;
}

/** A header's values joined with "," (as a proxy compares a repeated header), or undefined when absent. */
function headerValue(headers: readonly HeaderField[], lowerName: string): string | undefined {
  let out: string | undefined;
  for (const [name, value] of headers) {
    if (name.toLowerCase() !== lowerName) continue;
    out = out === undefined ? value : `${out},${value}`;
  }
  return out;
}

function headerTestPasses(headers: readonly HeaderField[], test: HeaderTest): boolean {
  const actual = headerValue(headers, test.name);
  return actual !== undefined && (test.value === undefined || actual === test.value);
}

function fieldsMatch(rule: CompiledRule, req: HttpRequestView, headers: readonly HeaderField[]): boolean {
  if (rule.method && !rule.method.test(req.method)) return false;
  if (rule.path && !rule.path.test(req.path)) return false;
  if (rule.host && !rule.host.test(req.host)) return false;
  return rule.headers.every((t) => headerTestPasses(headers, t));
}

/** What a mismatch does (rule 5), or undefined for a failed rule or nothing to do. */
function mismatchAction(m: CompiledHeaderMatch, headers: readonly HeaderField[]): HeaderAction | undefined {
  const wanted = m.value ?? '';
  switch (m.mismatch) {
    case undefined:
      return undefined;
    case 'DELETE': {
      const present = headerValue(headers, m.name);
      return m.value === undefined || present === undefined ? undefined : { action: 'DELETE', name: m.displayName, value: present };
    }
    default:
      return { action: m.mismatch, name: m.displayName, value: wanted };
  }
}

/** Rule 5: checks a rule's headerMatches on `headers`, changing them as the actions say. */
function headerMatchesPass(rule: CompiledRule, headers: HeaderField[], actions: HeaderAction[]): boolean {
  let accepted = true;
  for (const m of rule.headerMatches) {
    if (headerTestPasses(headers, m)) continue;
    if (m.mismatch === undefined) accepted = false;
    const action = mismatchAction(m, headers);
    if (!action) continue;
    actions.push(action);
    if (action.action !== 'LOG') headers.splice(0, headers.length, ...applyHeaderActions(headers, [action]));
  }
  return accepted;
}

/**
 * Compiles one port's HTTP rules. `fieldPath` names the rules in errors,
 * e.g. `spec.ingress[0].toPorts[0].rules.http`. Throws ValidationError on
 * an invalid regular expression, a malformed `headers` entry, a secret
 * reference (not supported) or ADD/REPLACE without a value.
 */
export function compileHttpRules(rules: readonly HttpRule[], fieldPath = 'rules.http'): HttpMatcher {
  const compiled = rules.map((r, i) => compileRule(r, `${fieldPath}[${i}]`));
  if (compiled.length === 0) return () => ({ allowed: true, actions: [] });
  const withActions = compiled.some((r) => r.headerMatches.length > 0);
  if (!withActions) {
    return (req) => {
      const rule = compiled.findIndex((r) => fieldsMatch(r, req, req.headers));
      return rule < 0 ? { allowed: false, actions: [] } : { allowed: true, rule, actions: [] };
    };
  }
  return (req) => {
    const headers: HeaderField[] = [...req.headers];
    const actions: HeaderAction[] = [];
    let first: number | undefined;
    compiled.forEach((r, i) => {
      if (!fieldsMatch(r, req, headers)) return;
      if (headerMatchesPass(r, headers, actions) && first === undefined) first = i;
    });
    return first === undefined ? { allowed: false, actions } : { allowed: true, rule: first, actions };
  };
}

/** The header fields after ADD, DELETE and REPLACE actions (LOG changes nothing). Names compare case-insensitively. */
export function applyHeaderActions(headers: readonly HeaderField[], actions: readonly HeaderAction[]): HeaderField[] {
  let out: HeaderField[] = [...headers];
  for (const a of actions) {
    const lower = a.name.toLowerCase();
    switch (a.action) {
      case 'ADD':
        out.push([a.name, a.value]);
        break;
      case 'DELETE':
        out = out.filter(([n]) => n.toLowerCase() !== lower);
        break;
      case 'REPLACE': {
        const at = out.findIndex(([n]) => n.toLowerCase() === lower);
        out = out.filter(([n]) => n.toLowerCase() !== lower);
        out.splice(at < 0 ? out.length : at, 0, [a.name, a.value]);
        break;
      }
      case 'LOG':
        break;
    }
  }
  return out;
}
