import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Ipam, type IpamSnapshot } from './ipam.js';

describe('IPAM', () => {
  it('hands out addresses from .2 and keeps .1 for the gateway', () => {
    const ipam = new Ipam('10.244.3.0/24', undefined, () => {});
    assert.equal(ipam.gateway, '10.244.3.1');
    assert.equal(ipam.allocate('a'), '10.244.3.2');
    assert.equal(ipam.allocate('b'), '10.244.3.3');
  });

  it('never gives one address to two owners, even for many interleaved requests', () => {
    const ipam = new Ipam('10.244.3.0/24', undefined, () => {});
    const ips = new Set<string>();
    for (let i = 0; i < 253; i++) ips.add(ipam.allocate(`owner-${i}`));
    assert.equal(ips.size, 253);
    assert.throws(() => ipam.allocate('one-too-many'), /no free address/);
  });

  it('gives the same owner its address back (a retried ADD)', () => {
    const ipam = new Ipam('10.244.3.0/24', undefined, () => {});
    assert.equal(ipam.allocate('c1:eth0'), ipam.allocate('c1:eth0'));
    assert.equal(ipam.allocated, 1);
  });

  it('does not reuse a released address at once', () => {
    const ipam = new Ipam('10.244.3.0/24', undefined, () => {});
    const a = ipam.allocate('a');
    ipam.release(a);
    assert.notEqual(ipam.allocate('b'), a);
  });

  it('persists every change and restores from the snapshot', () => {
    let saved: IpamSnapshot | undefined;
    const ipam = new Ipam('10.244.3.0/24', undefined, (s) => { saved = s; });
    const a = ipam.allocate('a');
    const restored = new Ipam('10.244.3.0/24', saved, () => {});
    assert.equal(restored.ownerOf(a), 'a');
    assert.notEqual(restored.allocate('b'), a);
  });

  it('assigns an exact address to its owner and refuses one held by another', () => {
    const ipam = new Ipam('10.244.3.0/24', undefined, () => {});
    ipam.assign('10.244.3.9', 'a');
    ipam.assign('10.244.3.9', 'a');
    assert.throws(() => ipam.assign('10.244.3.9', 'b'), /allocated to a/);
    assert.throws(() => ipam.assign('10.244.3.1', 'b'), /reserved/);
    assert.throws(() => ipam.assign('10.244.4.2', 'b'), /not in pod CIDR/);
    assert.notEqual(ipam.allocate('c'), '10.244.3.9');
  });

  it('refuses state persisted for another CIDR', () => {
    assert.throws(() => new Ipam('10.244.4.0/24', { podCIDR: '10.244.3.0/24', allocations: {} }, () => {}), /persisted IPAM state/);
  });
});
