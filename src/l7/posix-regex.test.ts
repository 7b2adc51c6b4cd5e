import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileAnchoredEre, EreSyntaxError } from './posix-regex.js';

/** [ERE, texts it matches whole, texts it does not] */
const matching: [string, string[], string[]][] = [
  ['/v1/request-landing', ['/v1/request-landing'], ['/v1/request-landing/', 'x/v1/request-landing', '/v1/request-landingx']],
  ['/v1/.*', ['/v1/', '/v1/a/b?c=d', '/v1/\n'], ['/v2/', '/v1']],
  ['GET|POST', ['GET', 'POST'], ['GETPOST', 'PUT', 'get']],
  ['(GET|HEAD)', ['GET', 'HEAD'], ['GETHEAD']],
  ['a.c', ['abc', 'a c', 'a\nc'], ['ac', 'abbc']],
  ['ab*c', ['ac', 'abc', 'abbbc'], ['adc']],
  ['ab+c', ['abc', 'abbc'], ['ac']],
  ['ab?c', ['ac', 'abc'], ['abbc']],
  ['a{2}', ['aa'], ['a', 'aaa']],
  ['a{2,}', ['aa', 'aaaa'], ['a']],
  ['a{1,3}', ['a', 'aaa'], ['', 'aaaa']],
  ['(ab){2}', ['abab'], ['ab', 'abb']],
  ['[abc]+', ['abcabc'], ['abd']],
  ['[^abc]', ['d', '\n'], ['a']],
  ['[a-c-]', ['a', 'b', '-'], ['d']],
  ['[]a]', [']', 'a'], ['b']],
  ['[^]a]', ['b'], [']', 'a']],
  ['[\\d]', ['\\', 'd'], ['1']],
  ['[[:alpha:]]+', ['Abc'], ['ab1', '']],
  ['[[:digit:][:upper:]]*', ['A1B2', ''], ['a']],
  ['[[:alnum:]_-]+', ['x_y-1'], ['x.y']],
  ['[[:space:]]', [' ', '\t', '\n', '\r', '\f', '\v'], ['x']],
  ['[[:blank:]]', [' ', '\t'], ['\n']],
  ['[[:punct:]]', ['!', '/', '@', '[', '`', '~'], ['a', ' ']],
  ['[[:xdigit:]]{4}', ['0aF9'], ['0aG9']],
  ['[[:lower:]][[:print:]][[:graph:]][[:cntrl:]]', ['a x\x01'], ['a  \x01']],
  ['[[.-.]a]', ['-', 'a'], ['b']],
  ['[[=a=]]', ['a'], ['b']],
  ['a\\.b\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\^\\$\\\\', ['a.b*+?()[]{}|^$\\'], []],
  ['a}b]', ['a}b]'], []],
  ['^/x$', ['/x'], ['/xx']],
  ['a^b', [], ['a^b', 'ab']],
  ['deathstar\\.default\\.svc\\.cluster\\.local(:80)?', ['deathstar.default.svc.cluster.local', 'deathstar.default.svc.cluster.local:80'], ['deathstarXdefault.svc.cluster.local']],
  ['caf\u00e9/\u{1F600}', ['caf\u00e9/\u{1F600}'], ['cafe/']],
];

/** [ERE, a fragment of the error] */
const rejected: [string, RegExp][] = [
  ['', /empty expression/],
  ['a||b', /empty alternative/],
  ['|a', /empty alternative/],
  ['a|', /empty alternative/],
  ['()', /empty group/],
  ['(a', /unterminated group/],
  ['a)', /unmatched "\)"/],
  ['*a', /nothing to repeat/],
  ['a|+b', /nothing to repeat/],
  ['(?:a)', /"\(\?" groups are not ERE/],
  ['(?=a)', /"\(\?" groups are not ERE/],
  ['a*?', /lazy quantifiers are not ERE/],
  ['a**', /two quantifiers in a row/],
  ['a+{2}', /two quantifiers in a row/],
  ['a{', /invalid interval/],
  ['a{x}', /invalid interval/],
  ['a{,3}', /invalid interval/],
  ['a{3,2}', /maximum below its minimum/],
  ['a{256}', /RE_DUP_MAX/],
  ['{2}', /nothing to repeat/],
  ['{x', /must start an interval/],
  ['\\d+', /\\d is not POSIX ERE; use \[\[:digit:\]\]/],
  ['\\w', /\\w is not POSIX ERE/],
  ['\\s', /\\s is not POSIX ERE/],
  ['\\b', /word boundaries/],
  ['(a)\\1', /backreference \\1 is not ERE/],
  ['\\/', /\\\/ is not POSIX ERE/],
  ['a\\', /trailing backslash/],
  ['[abc', /unterminated bracket/],
  ['[]', /unterminated bracket/],
  ['[z-a]', /invalid range "z-a"/],
  ['[[:word:]]', /unknown character class \[:word:\]/],
  ['[[:alpha:]-z]', /character class cannot start a range/],
  ['[a-[:digit:]]', /character class cannot end a range/],
  ['[[:alpha:]', /unterminated bracket/],
  ['[[:alpha]', /unterminated "\[:"/],
  ['[[.ch.]]', /multi-character collating element/],
  ['^*', /anchor cannot be repeated/],
];

describe('POSIX ERE translation', () => {
  for (const [ere, yes, no] of matching) {
    it(`${JSON.stringify(ere)} matches ${JSON.stringify(yes)} whole and not ${JSON.stringify(no)}`, () => {
      const re = compileAnchoredEre(ere);
      for (const t of yes) assert.ok(re.test(t), `${JSON.stringify(t)} should match ${re}`);
      for (const t of no) assert.ok(!re.test(t), `${JSON.stringify(t)} should not match ${re}`);
    });
  }
  for (const [ere, message] of rejected) {
    it(`rejects ${JSON.stringify(ere)} (${message.source})`, () => {
      assert.throws(() => compileAnchoredEre(ere), (err: unknown) => err instanceof EreSyntaxError && message.test(err.message));
    });
  }
  it('names the column of the error', () => {
    assert.throws(() => compileAnchoredEre('/v1/\\d+'), /at column 5 of "\/v1\/\\\\d\+"/);
  });
});
