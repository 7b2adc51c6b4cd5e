import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lookupPolicy, MatchType } from './lookup.js';
import { MapState, policyKey, Proto } from './mapstate.js';

const X = 300;
const entry = (deny: boolean, cookie: number) => ({ deny, proxyPort: 0, cookie });
const state = (...items: [ReturnType<typeof policyKey>, boolean, number][]) =>
  new MapState(items.map(([key, deny, cookie]) => ({ key, entry: entry(deny, cookie) })));

describe('lookupPolicy (the datapath reference)', () => {
  it('default-denies with drop 133 when nothing matches', () => {
    const v = lookupPolicy(new MapState(), X, false, Proto.TCP, 80);
    assert.deepEqual(v, { verdict: 'default-deny', dropReason: 133, matchType: MatchType.NONE });
  });

  it('reports each match type from the winning key', () => {
    const cases: [ReturnType<typeof policyKey>, number][] = [
      [policyKey(X, false, 0, 0, 0), MatchType.L3_ONLY],
      [policyKey(X, false, Proto.TCP, 0, 8), MatchType.L3_PROTO],
      [policyKey(X, false, Proto.TCP, 80), MatchType.L3_L4],
      [policyKey(0, false, Proto.TCP, 80), MatchType.L4_ONLY],
      [policyKey(0, false, Proto.TCP, 0, 8), MatchType.PROTO_ONLY],
      [policyKey(0, false, 0, 0, 0), MatchType.ALL],
    ];
    for (const [key, matchType] of cases) {
      const v = lookupPolicy(state([key, false, 1]), X, false, Proto.TCP, 80);
      assert.equal(v.verdict, 'allow');
      assert.equal(v.matchType, matchType);
    }
  });

  it('matches only its direction, protocol and port', () => {
    const s = state([policyKey(X, false, Proto.TCP, 80), false, 1]);
    assert.equal(lookupPolicy(s, X, true, Proto.TCP, 80).verdict, 'default-deny');
    assert.equal(lookupPolicy(s, X, false, Proto.UDP, 80).verdict, 'default-deny');
    assert.equal(lookupPolicy(s, X, false, Proto.TCP, 81).verdict, 'default-deny');
    assert.equal(lookupPolicy(s, X + 1, false, Proto.TCP, 80).verdict, 'default-deny');
  });

  it('stops at an L3 deny even when an L4 allow is longer', () => {
    const v = lookupPolicy(state([policyKey(X, false, 0, 0, 0), true, 1], [policyKey(0, false, Proto.TCP, 80), false, 2]), X, false, Proto.TCP, 80);
    assert.equal(v.verdict, 'deny');
    assert.equal(v.dropReason, 181);
    assert.equal(v.entry?.cookie, 1);
  });

  it('lets an any-peer deny win over a longer L3 allow', () => {
    const v = lookupPolicy(state([policyKey(X, false, Proto.TCP, 80), false, 1], [policyKey(0, false, 0, 0, 0), true, 2]), X, false, Proto.TCP, 80);
    assert.equal(v.verdict, 'deny');
    assert.equal(v.matchType, MatchType.ALL);
  });

  it('prefers the any-peer entry only when its prefix is longer', () => {
    const longer = lookupPolicy(state([policyKey(X, false, 0, 0, 0), false, 1], [policyKey(0, false, Proto.TCP, 80), false, 2]), X, false, Proto.TCP, 80);
    assert.equal(longer.entry?.cookie, 2);
    const equal = lookupPolicy(state([policyKey(X, false, Proto.TCP, 80), false, 1], [policyKey(0, false, Proto.TCP, 80), false, 2]), X, false, Proto.TCP, 80);
    assert.equal(equal.entry?.cookie, 1);
  });

  it('takes the longest prefix within one identity', () => {
    const s = state([policyKey(X, false, Proto.TCP, 0, 14), false, 1], [policyKey(X, false, Proto.TCP, 80), true, 2]);
    assert.equal(lookupPolicy(s, X, false, Proto.TCP, 80).verdict, 'deny');
    assert.equal(lookupPolicy(s, X, false, Proto.TCP, 81).verdict, 'allow');
    assert.equal(lookupPolicy(s, X, false, Proto.TCP, 1024).verdict, 'default-deny');
  });
});
