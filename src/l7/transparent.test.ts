/**
 * transparent.ts's input checks, before any socket is made (the sockets
 * themselves are exercised through real redirected traffic in
 * transparent.priv.test.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MembraneError } from '../common/errors.js';
import { PROXY_UPSTREAM_MARK, connectTransparent, listenTransparent } from './transparent.js';

const invalid = (field: RegExp) => (err: unknown) => err instanceof MembraneError && err.code === 'EINVAL' && field.test(err.message);

describe('transparent sockets', () => {
  it('names the bad listen address or port', () => {
    assert.throws(() => listenTransparent(15001, { host: '::1' }), invalid(/^listen\.address "::1" is not an IPv4 address/));
    assert.throws(() => listenTransparent(70000), invalid(/^listen\.port 70000 is not a port/));
  });

  it('names the bad upstream source or destination', async () => {
    await assert.rejects(connectTransparent({ src: { address: '10.0.0.300', port: 0 }, dst: { address: '10.0.0.2', port: 80 } }), invalid(/^src\.address/));
    await assert.rejects(connectTransparent({ src: { address: '10.0.0.1', port: 0 }, dst: { address: '10.0.0.2', port: -1 } }), invalid(/^dst\.port -1/));
  });

  it('marks upstreams with the mark the datapath never redirects again', () => {
    assert.equal(PROXY_UPSTREAM_MARK, 0x0a00);
  });
});
