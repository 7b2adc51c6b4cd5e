import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideRequest, type SideDecision } from './decide.js';
import { compileHttpRules, type HttpRequestView } from './http-rules.js';
import type { HttpRule } from '../policy/types.js';

const request = (method: string, path: string, host: string, headers: [string, string][] = []): HttpRequestView =>
  ({ method, path, host, headers: [['Host', host], ...headers] });

/** Sides from rule lists; undefined: that side has no HTTP rules. */
function sides(egress: HttpRule[] | undefined, ingress: HttpRule[] | undefined): SideDecision {
  const e = egress && compileHttpRules(egress);
  const i = ingress && compileHttpRules(ingress);
  return (isEgress, req) => (isEgress ? e?.(req) : i?.(req));
}

describe('a request decided on both sides of a proxied connection', () => {
  it('an ingress-redirected request is decided by the server\'s rules alone', () => {
    const side = sides([{ method: 'PUT' }], [{ method: 'GET' }]);
    assert.equal(decideRequest(request('GET', '/', 'a'), false, side).allowed, true);
    assert.equal(decideRequest(request('PUT', '/', 'a'), false, side).allowed, false);
  });

  it('an egress-redirected request must also pass the server\'s own rules, which name themselves when they deny', () => {
    const side = sides([{ path: '/to-server-.*' }], [{ path: '/to-server-ok' }]);
    assert.equal(decideRequest(request('GET', '/to-server-ok', 'a'), true, side).allowed, true);
    const denied = decideRequest(request('GET', '/to-server-no', 'a'), true, side);
    assert.deepEqual([denied.allowed, denied.policyDirection], [false, 'INGRESS']);
    const egressDenied = decideRequest(request('GET', '/elsewhere', 'a'), true, side);
    assert.deepEqual([egressDenied.allowed, egressDenied.policyDirection], [false, undefined]);
  });

  it('a server without HTTP rules of its own leaves the egress verdict as it is', () => {
    const side = sides([{ method: 'GET' }], undefined);
    assert.equal(decideRequest(request('GET', '/', 'a'), true, side).allowed, true);
  });

  it('the server\'s rules see the headers the egress rules\' actions left, and the actions are chained', () => {
    const side = sides(
      [{ headerMatches: [{ name: 'X-Team', value: 'empire', mismatch: 'ADD' }] }],
      [{ headers: ['X-Team: empire'], headerMatches: [{ name: 'X-Audit', value: 'yes', mismatch: 'ADD' }] }],
    );
    const v = decideRequest(request('GET', '/', 'a'), true, side);
    assert.equal(v.allowed, true);
    assert.deepEqual(v.actions.map((a) => `${a.action} ${a.name}`), ['ADD X-Team', 'ADD X-Audit']);
  });

  it('an egress rule that rewrites Host cannot carry a request past the server\'s host rule', () => {
    // The client's policy rewrites Host to a name the server's rules do not allow: the request is forwarded with
    // that Host (origin form), so it must be refused even though the original Host passes.
    const side = sides([{ headerMatches: [{ name: 'Host', value: 'internal.example', mismatch: 'REPLACE' }] }], [{ host: 'public\\.example' }]);
    const v = decideRequest(request('GET', '/', 'public.example'), true, side);
    assert.deepEqual([v.allowed, v.policyDirection], [false, 'INGRESS']);
    // ADD leaves two Host headers: ambiguous, refused.
    const add = sides([{ headerMatches: [{ name: 'Host', value: 'internal.example', mismatch: 'ADD' }] }], [{ host: '.*' }]);
    assert.equal(decideRequest(request('GET', '/', 'public.example'), true, add).allowed, false);
    // A rewrite to a name the server allows passes.
    const fine = sides([{ headerMatches: [{ name: 'Host', value: 'public.example', mismatch: 'REPLACE' }] }], [{ host: 'public\\.example' }]);
    assert.equal(decideRequest(request('GET', '/', 'www.example'), true, fine).allowed, false, 'the original authority must pass too (absolute form keeps it)');
    const both = sides([{ headerMatches: [{ name: 'Host', value: 'public.example', mismatch: 'REPLACE' }] }], [{ host: '(public|www)\\.example' }]);
    assert.equal(decideRequest(request('GET', '/', 'www.example'), true, both).allowed, true);
  });
});
