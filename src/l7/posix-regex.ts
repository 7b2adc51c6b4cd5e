/**
 * POSIX extended regular expressions (ERE, IEEE Std 1003.1 §9.4), as HTTP
 * rules write `method`, `path` and `host`, translated to JavaScript RegExp
 * source. Only ERE is accepted: JavaScript-only syntax (`\d`, `(?:`,
 * lookarounds, lazy `*?`, backreferences) and what ERE leaves undefined
 * (`a**`, `()`, `|x`, a lone `{`) are rejected with the column and a hint,
 * so a policy means the same in membrane as in any POSIX engine.
 *
 * Translation notes:
 *   - `.` and negated brackets match any character, newlines included
 *     (ERE has no line mode), so the result is used with the `s` flag;
 *   - `^` and `$` anchor at the ends of the whole text (no `m` flag);
 *   - POSIX picks the leftmost-longest match and JS the leftmost-first
 *     one; HTTP rules only ask whether the whole text matches, where both
 *     agree;
 *   - inside a bracket a backslash is an ordinary character, as POSIX says;
 *   - character classes (`[[:alpha:]]`) are the POSIX locale's (ASCII).
 * Pure.
 */

export class EreSyntaxError extends Error {
  constructor(readonly source: string, readonly column: number, detail: string) {
    super(`${detail} at column ${column + 1} of ${JSON.stringify(source)}`);
    this.name = 'EreSyntaxError';
  }
}

/** RE_DUP_MAX: the largest count an interval `{m,n}` may name. */
export const RE_DUP_MAX = 255;

const CLASSES: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  blank: ' \\t',
  cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9',
  graph: '\\x21-\\x7e',
  lower: 'a-z',
  print: '\\x20-\\x7e',
  punct: '\\x21-\\x2f\\x3a-\\x40\\x5b-\\x60\\x7b-\\x7e',
  space: ' \\t\\n\\x0b\\f\\r',
  upper: 'A-Z',
  xdigit: '0-9A-Fa-f',
};

/** What ERE lets a backslash make literal (the special characters, and the closing `}` `]` for readability). */
const ESCAPABLE = new Set('^.[]$()|*+?{}\\'.split(''));

/** Hints for escapes users bring from other regex dialects. */
const ESCAPE_HINTS: Record<string, string> = {
  d: 'use [[:digit:]] or [0-9]', D: 'use [^[:digit:]]', w: 'use [[:alnum:]_]', W: 'use [^[:alnum:]_]',
  s: 'use [[:space:]]', S: 'use [^[:space:]]', b: 'ERE has no word boundaries', B: 'ERE has no word boundaries',
  n: 'write the character itself', t: 'write the character itself or use [[:blank:]]',
};

/** A JS source for one literal character, safe both inside and outside brackets. */
function literal(ch: string): string {
  const code = ch.codePointAt(0)!;
  if (/[A-Za-z0-9 _]/.test(ch)) return ch;
  if (code > 0xffff) return ch; // astral characters only reach here outside brackets
  return `\\u${code.toString(16).padStart(4, '0')}`;
}

class Translator {
  private pos = 0;
  constructor(private readonly src: string) {}

  translate(): string {
    const out = this.alternation(0);
    if (this.pos < this.src.length) {
      // Only an unmatched `)` stops the top-level alternation early.
      throw this.error('unmatched ")"; escape a literal parenthesis as \\)');
    }
    return out;
  }

  private error(detail: string, at = this.pos): EreSyntaxError {
    return new EreSyntaxError(this.src, at, detail);
  }

  private peek(offset = 0): string | undefined {
    return this.src[this.pos + offset];
  }

  private alternation(depth: number): string {
    const branches: string[] = [];
    for (;;) {
      const start = this.pos;
      const branch = this.branch(depth);
      if (branch === '') {
        throw this.error(this.peek() === undefined && start === 0 ? 'empty expression' : 'empty alternative (ERE needs something on each side of "|")', start);
      }
      branches.push(branch);
      if (this.peek() !== '|') return branches.join('|');
      this.pos++;
    }
  }

  private branch(depth: number): string {
    let out = '';
    for (;;) {
      const ch = this.peek();
      if (ch === undefined || ch === '|') return out;
      if (ch === ')') {
        if (depth === 0) throw this.error('unmatched ")"; escape a literal parenthesis as \\)');
        return out;
      }
      out += this.piece(depth);
    }
  }

  private piece(depth: number): string {
    const atomAt = this.pos;
    const atom = this.atom(depth);
    const quantifier = this.quantifier();
    if (quantifier === '') return atom;
    const next = this.peek();
    if (next === '*' || next === '+' || next === '?' || (next === '{' && this.intervalAhead())) {
      throw this.error(next === '?' ? 'a quantifier followed by "?" (lazy quantifiers are not ERE)' : 'two quantifiers in a row are undefined in ERE; group the first: (a*)*');
    }
    if (atom === '^' || atom === '$') throw this.error('an anchor cannot be repeated', atomAt);
    return atom + quantifier;
  }

  private atom(depth: number): string {
    const at = this.pos;
    const ch = this.src[this.pos++]!;
    switch (ch) {
      case '(': {
        if (this.peek() === '?') throw this.error('"(?" groups are not ERE (no non-capturing groups or lookarounds)', at);
        if (this.peek() === ')') throw this.error('empty group "()" is undefined in ERE', at);
        const inner = this.alternation(depth + 1);
        if (this.peek() !== ')') throw this.error('unterminated group: missing ")"', at);
        this.pos++;
        return `(?:${inner})`;
      }
      case '.': return '.';
      case '^': return '^';
      case '$': return '$';
      case '[': return this.bracket(at);
      case '\\': return this.escape(at);
      case '*': case '+': case '?':
        throw this.error(`"${ch}" has nothing to repeat; escape it as \\${ch} for a literal`, at);
      case '{':
        throw this.error(this.intervalAhead(at) ? '"{" interval has nothing to repeat' : '"{" must start an interval {m}, {m,} or {m,n} after an atom; escape a literal brace as \\{', at);
      default: {
        const c = String.fromCodePoint(this.src.codePointAt(at)!);
        this.pos = at + c.length;
        return literal(c);
      }
    }
  }

  private escape(at: number): string {
    const next = this.src[this.pos];
    if (next === undefined) throw this.error('trailing backslash', at);
    this.pos++;
    if (ESCAPABLE.has(next)) return literal(next);
    if (/[1-9]/.test(next)) throw this.error(`backreference \\${next} is not ERE`, at);
    const hint = ESCAPE_HINTS[next];
    throw this.error(`\\${next} is not POSIX ERE${hint ? `; ${hint}` : ''}; a backslash only escapes one of ^.[]$()|*+?{}\\`, at);
  }

  /** Whether an interval `{m}`, `{m,}` or `{m,n}` starts at `at` (default: here). */
  private intervalAhead(at = this.pos): boolean {
    return /^\{\d+(,\d*)?\}/.test(this.src.slice(at));
  }

  private quantifier(): string {
    const ch = this.peek();
    if (ch === '*' || ch === '+' || ch === '?') {
      this.pos++;
      return ch;
    }
    if (ch !== '{') return '';
    const at = this.pos;
    const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(at));
    if (!m) throw this.error('invalid interval: write {m}, {m,} or {m,n} with decimal counts, or \\{ for a literal brace', at);
    const min = Number(m[1]);
    const max = m[3] === undefined || m[3] === '' ? undefined : Number(m[3]);
    if (min > RE_DUP_MAX || (max !== undefined && max > RE_DUP_MAX)) throw this.error(`interval count above RE_DUP_MAX (${RE_DUP_MAX})`, at);
    if (max !== undefined && max < min) throw this.error(`interval {${min},${max}} has its maximum below its minimum`, at);
    this.pos += m[0].length;
    return m[2] === undefined ? `{${min}}` : max === undefined ? `{${min},}` : `{${min},${max}}`;
  }

  /** A bracket expression from `[` (at `at`) through its `]`. */
  private bracket(at: number): string {
    let negate = false;
    if (this.peek() === '^') {
      negate = true;
      this.pos++;
    }
    const items: string[] = [];
    let first = true;
    for (;;) {
      const ch = this.peek();
      if (ch === undefined) throw this.error('unterminated bracket expression: missing "]"', at);
      if (ch === ']' && !first) {
        this.pos++;
        break;
      }
      first = false;
      const itemAt = this.pos;
      const start = this.bracketElement();
      if (start.kind === 'class') {
        if (this.peek() === '-' && this.peek(1) !== ']' && this.peek(1) !== undefined) throw this.error('a character class cannot start a range', itemAt);
        items.push(start.source);
        continue;
      }
      if (this.peek() === '-' && this.peek(1) !== ']' && this.peek(1) !== undefined) {
        this.pos++;
        const endAt = this.pos;
        const end = this.bracketElement();
        if (end.kind === 'class') throw this.error('a character class cannot end a range', endAt);
        if (end.code < start.code) throw this.error(`invalid range "${start.char}-${end.char}": its end sorts before its start`, itemAt);
        items.push(`${literal(start.char)}-${literal(end.char)}`);
        continue;
      }
      items.push(literal(start.char));
    }
    return `[${negate ? '^' : ''}${items.join('')}]`;
  }

  private bracketElement(): { kind: 'char'; char: string; code: number } | { kind: 'class'; source: string } {
    const at = this.pos;
    if (this.peek() === '[' && (this.peek(1) === ':' || this.peek(1) === '=' || this.peek(1) === '.')) {
      const delim = this.peek(1)!;
      const close = this.src.indexOf(`${delim}]`, at + 2);
      if (close < 0) throw this.error(`unterminated "[${delim}": missing "${delim}]"`, at);
      const name = this.src.slice(at + 2, close);
      this.pos = close + 2;
      if (delim === ':') {
        const cls = CLASSES[name];
        if (cls === undefined) throw this.error(`unknown character class [:${name}:]; the classes are ${Object.keys(CLASSES).join(', ')}`, at);
        return { kind: 'class', source: cls };
      }
      // Collating symbols and equivalence classes: in the POSIX locale, a single character stands for itself.
      const chars = [...name];
      if (chars.length !== 1) throw this.error(`[${delim}${name}${delim}] names a multi-character collating element, which membrane does not support`, at);
      return this.char(chars[0]!, at);
    }
    const code = this.src.codePointAt(at)!;
    const ch = String.fromCodePoint(code);
    this.pos += ch.length;
    return this.char(ch, at);
  }

  private char(ch: string, at: number): { kind: 'char'; char: string; code: number } {
    const code = ch.codePointAt(0)!;
    if (code > 0xffff) throw this.error('characters outside the Basic Multilingual Plane are not supported in bracket expressions', at);
    return { kind: 'char', char: ch, code };
  }
}

/**
 * The JavaScript source of a POSIX ERE, to be anchored by the caller and
 * compiled with the `s` flag. Throws EreSyntaxError (with the column) on
 * anything ERE does not define.
 */
export function ereToJsSource(source: string): string {
  return new Translator(source).translate();
}

/** A RegExp that matches a whole text against an ERE (fully anchored, as HTTP rules are). Throws EreSyntaxError. */
export function compileAnchoredEre(source: string): RegExp {
  return new RegExp(`^(?:${ereToJsSource(source)})$`, 's');
}
