import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LbFrontend } from './lb-types.js';
import { withTerminatingFallback } from './terminating-fallback.js';

const frontend = (...states: ('active' | 'terminating')[]): LbFrontend => ({
  id: 1, vip: '10.96.0.12', port: 80, protocol: 6, algorithm: 'random', affinityTimeoutSec: 0,
  backends: states.map((state, i) => ({ ip: `10.244.1.${20 + i}`, port: 8080, state })),
});

describe('terminating backends fallback', () => {
  it('leaves a frontend with an active backend as it is: its terminating ones take no new connections', () => {
    const f = frontend('terminating', 'active');
    assert.equal(withTerminatingFallback(f), f);
  });

  it('makes every terminating backend active when none is active', () => {
    const f = frontend('terminating', 'terminating');
    assert.deepEqual(withTerminatingFallback(f).backends.map((b) => b.state), ['active', 'active']);
    assert.deepEqual(f.backends.map((b) => b.state), ['terminating', 'terminating'], 'the given frontend is not changed');
  });

  it('leaves a frontend without backends without backends (its connections are dropped as having none)', () => {
    const f = frontend();
    assert.deepEqual(withTerminatingFallback(f), f);
  });
});
