import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { HttpRule } from '../policy/types.js';
import { applyHeaderActions, compileHttpRules, type HeaderField, type HttpRequestView } from './http-rules.js';

const HOST = 'deathstar.default.svc.cluster.local';

function request(over: Partial<HttpRequestView> = {}): HttpRequestView {
  return { method: 'GET', path: '/v1/', host: HOST, headers: [['Host', HOST], ['User-Agent', 'curl/8.5.0']], ...over };
}

const allowed = (rules: HttpRule[], req: HttpRequestView) => compileHttpRules(rules)(req).allowed;

/** [what, rules, request, allowed] */
type Case = [string, HttpRule[], Partial<HttpRequestView>, boolean];

const methodCases: Case[] = [
  ['the Star Wars rule lets POST request-landing through', [{ method: 'POST', path: '/v1/request-landing' }], { method: 'POST', path: '/v1/request-landing' }, true],
  ['the Star Wars rule stops PUT exhaust-port', [{ method: 'POST', path: '/v1/request-landing' }], { method: 'PUT', path: '/v1/exhaust-port' }, false],
  ['method is anchored: POST does not match POSTX', [{ method: 'POST' }], { method: 'POSTX' }, false],
  ['method is case-sensitive', [{ method: 'POST' }], { method: 'post' }, false],
  ['method alternation', [{ method: 'GET|HEAD' }], { method: 'HEAD' }, true],
];
const pathCases: Case[] = [
  ['path is anchored at both ends', [{ path: '/v1' }], { path: '/v1/' }, false],
  ['/v1/.* allows everything under /v1/', [{ path: '/v1/.*' }], { path: '/v1/hyper-matter-reactor/status' }, true],
  ['path matches the query too, as Envoy\'s :path', [{ path: '/v1/request-landing' }], { path: '/v1/request-landing?x=1' }, false],
  ['path with a character class', [{ path: '/item/[[:digit:]]+' }], { path: '/item/42' }, true],
  ['path with a character class, non-digits', [{ path: '/item/[[:digit:]]+' }], { path: '/item/4a' }, false],
];
const hostCases: Case[] = [
  ['host matches the Host header', [{ host: 'deathstar\\..*' }], {}, true],
  ['host is anchored', [{ host: 'deathstar' }], {}, false],
  ['host includes the port when sent', [{ host: 'api\\.example\\.com' }], { host: 'api.example.com:8080' }, false],
  ['an empty host never matches a host regex', [{ host: '.+' }], { host: '' }, false],
];
const headerCases: Case[] = [
  ['"Name" asks for presence', [{ headers: ['X-Has-Force'] }], { headers: [['x-has-force', 'False']] }, true],
  ['"Name" fails when absent', [{ headers: ['X-Has-Force'] }], {}, false],
  ['"Name: value" asks for the exact value', [{ headers: ['X-Has-Force: True'] }], { headers: [['X-HAS-FORCE', 'True']] }, true],
  ['"Name: value" is case-sensitive in the value', [{ headers: ['X-Has-Force: True'] }], { headers: [['X-Has-Force', 'true']] }, false],
  ['a repeated header compares as its values joined with ","', [{ headers: ['X-A: 1,2'] }], { headers: [['X-A', '1'], ['x-a', '2']] }, true],
  ['a value may contain spaces', [{ headers: ['X-A: a b'] }], { headers: [['X-A', 'a b']] }, true],
  ['all headers must match', [{ headers: ['X-A', 'X-B'] }], { headers: [['X-A', '1']] }, false],
];
const combinationCases: Case[] = [
  ['an empty rule matches everything', [{}], { method: 'DELETE', path: '/anything' }, true],
  ['no rules (http: []) allow everything', [], {}, true],
  ['every field of a rule must match', [{ method: 'GET', path: '/v1/', headers: ['X-A'] }], {}, false],
  ['any rule suffices', [{ method: 'POST' }, { path: '/v1/' }], {}, true],
  ['empty strings are fields not given', [{ method: '', path: '', host: '' }], {}, true],
];

describe('HTTP rules', () => {
  for (const [group, cases] of [['method', methodCases], ['path', pathCases], ['host', hostCases], ['headers', headerCases], ['rules', combinationCases]] as const) {
    describe(group, () => {
      for (const [what, rules, req, want] of cases) {
        it(what, () => assert.equal(allowed(rules, request(req)), want));
      }
    });
  }

  it('names the first matching rule', () => {
    assert.deepEqual(compileHttpRules([{ method: 'PUT' }, { method: 'GET' }, {}])(request()), { allowed: true, rule: 1, actions: [] });
  });
});

describe('headerMatches', () => {
  const withHeaders = (headers: HeaderField[]) => request({ headers });
  const run = (rules: HttpRule[], headers: HeaderField[]) => compileHttpRules(rules)(withHeaders(headers));

  it('a matching value passes with no action', () => {
    assert.deepEqual(run([{ headerMatches: [{ name: 'X-Token', value: 'abc' }] }], [['x-token', 'abc']]), { allowed: true, rule: 0, actions: [] });
  });
  it('without mismatch, a wrong value fails the rule', () => {
    assert.deepEqual(run([{ headerMatches: [{ name: 'X-Token', value: 'abc' }] }], [['X-Token', 'abd']]), { allowed: false, actions: [] });
  });
  it('without mismatch or value, a missing header fails the rule', () => {
    assert.equal(run([{ headerMatches: [{ name: 'X-Token' }] }], []).allowed, false);
  });
  it('LOG passes and reports the mismatch', () => {
    assert.deepEqual(run([{ headerMatches: [{ name: 'X-Token', value: 'abc', mismatch: 'LOG' }] }], [['X-Token', 'zzz']]),
      { allowed: true, rule: 0, actions: [{ action: 'LOG', name: 'X-Token', value: 'abc' }] });
  });
  it('ADD adds the header next to the existing value', () => {
    const v = run([{ headerMatches: [{ name: 'X-Token', value: 'abc', mismatch: 'ADD' }] }], [['X-Token', 'zzz']]);
    assert.deepEqual(v, { allowed: true, rule: 0, actions: [{ action: 'ADD', name: 'X-Token', value: 'abc' }] });
    assert.deepEqual(applyHeaderActions([['Host', HOST], ['X-Token', 'zzz']], v.actions), [['Host', HOST], ['X-Token', 'zzz'], ['X-Token', 'abc']]);
  });
  it('DELETE removes the mismatching header and reports the value removed', () => {
    const v = run([{ headerMatches: [{ name: 'x-token', value: 'abc', mismatch: 'DELETE' }] }], [['X-Token', 'zzz'], ['X-Other', '1']]);
    assert.deepEqual(v, { allowed: true, rule: 0, actions: [{ action: 'DELETE', name: 'x-token', value: 'zzz' }] });
    assert.deepEqual(applyHeaderActions([['X-Token', 'zzz'], ['X-Other', '1']], v.actions), [['X-Other', '1']]);
  });
  it('DELETE with the header absent, or on a presence match, does nothing and passes', () => {
    assert.deepEqual(run([{ headerMatches: [{ name: 'X-Token', value: 'abc', mismatch: 'DELETE' }] }], []), { allowed: true, rule: 0, actions: [] });
    assert.deepEqual(run([{ headerMatches: [{ name: 'X-Token', mismatch: 'DELETE' }] }], []), { allowed: true, rule: 0, actions: [] });
  });
  it('REPLACE sets the value in place, or adds the header when missing', () => {
    const v = run([{ headerMatches: [{ name: 'X-Token', value: 'abc', mismatch: 'REPLACE' }] }], [['x-token', 'zzz'], ['X-Other', '1'], ['x-token', 'yyy']]);
    assert.deepEqual(v.actions, [{ action: 'REPLACE', name: 'X-Token', value: 'abc' }]);
    assert.deepEqual(applyHeaderActions([['x-token', 'zzz'], ['X-Other', '1'], ['x-token', 'yyy']], v.actions), [['X-Token', 'abc'], ['X-Other', '1']]);
    assert.deepEqual(applyHeaderActions([['X-Other', '1']], v.actions), [['X-Other', '1'], ['X-Token', 'abc']]);
  });
  it('headerMatches are only checked on a rule whose other fields match', () => {
    assert.deepEqual(run([{ method: 'PUT', headerMatches: [{ name: 'X-Token', value: 'abc', mismatch: 'ADD' }] }], []), { allowed: false, actions: [] });
  });
  it('every rule runs its actions; a later rule sees the changed headers; the first passing rule is named', () => {
    const v = run([
      { headerMatches: [{ name: 'X-A', value: '1', mismatch: 'ADD' }, { name: 'X-Must' }] },
      { headers: ['X-A: 1'], headerMatches: [{ name: 'X-B', value: '2', mismatch: 'REPLACE' }] },
    ], []);
    assert.deepEqual(v, { allowed: true, rule: 1, actions: [{ action: 'ADD', name: 'X-A', value: '1' }, { action: 'REPLACE', name: 'X-B', value: '2' }] });
  });
});

describe('HTTP rule errors name the field', () => {
  const cases: [string, HttpRule[], RegExp][] = [
    ['a JS-only escape in path', [{ path: '/v1/\\d+' }], /^spec\.ingress\[0\]\.toPorts\[0\]\.rules\.http\[0\]\.path: not a POSIX extended regular expression: \\d is not POSIX ERE/],
    ['a lazy quantifier in method', [{}, { method: 'P.*?' }], /rules\.http\[1\]\.method: .*lazy quantifiers are not ERE/],
    ['an unterminated bracket in host', [{ host: '[a-z' }], /rules\.http\[0\]\.host: .*unterminated bracket/],
    ['a header entry without a space after the colon', [{ headers: ['X-A:1'] }], /rules\.http\[0\]\.headers\[0\]: "X-A:1" is not a header name; write "Name: value"/],
    ['a secret reference', [{ headerMatches: [{ name: 'Authorization', secret: { name: 's' } }] }], /rules\.http\[0\]\.headerMatches\[0\]\.secret: secret references are not supported/],
    ['ADD without a value', [{ headerMatches: [{ name: 'X-A', mismatch: 'ADD' }] }], /rules\.http\[0\]\.headerMatches\[0\]\.mismatch: ADD needs a "value"/],
  ];
  for (const [what, rules, message] of cases) {
    it(what, () => {
      assert.throws(() => compileHttpRules(rules, 'spec.ingress[0].toPorts[0].rules.http'), (err: Error & { code?: string }) => err.code === 'EINVAL' && message.test(err.message));
    });
  }
});
