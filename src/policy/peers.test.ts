import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LabelSet } from '../labels/labels.js';
import { peerIdentities } from './peers.js';
import type { PeerSpec } from './types.js';

// CIDR peers other than 0.0.0.0/0 are refused at parse time until the node has
// CIDR identities (cidrgate.ts); the matching below is what they will use then.
const identities = [
  { id: 2, labels: LabelSet.parse(['reserved:world']) },
  { id: 16777217, labels: LabelSet.parse(['cidr:1.0.0.0/8', 'reserved:world']) },
  { id: 16777218, labels: LabelSet.parse(['cidr:1.0.0.1/32', 'reserved:world']) },
  { id: 16777219, labels: LabelSet.parse(['cidr:2001-db8--/32', 'reserved:world']) },
];
const cidrPeer = (cidrs: { cidr: string; except?: string[] }[]): PeerSpec =>
  ({ kind: 'cidr', field: 'toCIDRSet', cidrs: cidrs.map((c) => ({ cidr: c.cidr, except: c.except ?? [] })) });

describe('CIDR peers', () => {
  it('select CIDR identities inside the CIDR, minus its excepts', () => {
    assert.deepEqual(peerIdentities(cidrPeer([{ cidr: '1.0.0.0/7' }]), identities).ids, [16777217, 16777218]);
    assert.deepEqual(peerIdentities(cidrPeer([{ cidr: '1.0.0.0/7', except: ['1.0.0.1/32'] }]), identities).ids, [16777217]);
    assert.deepEqual(peerIdentities(cidrPeer([{ cidr: '2001:db8::/16' }]), identities).ids, [16777219]);
    assert.deepEqual(peerIdentities(cidrPeer([{ cidr: '10.0.0.0/8' }]), identities).ids, []);
  });

  it('select plain world, identity 2, only with a /0', () => {
    assert.deepEqual(peerIdentities(cidrPeer([{ cidr: '0.0.0.0/0' }]), identities), { wildcard: false, ids: [2, 16777217, 16777218] });
    assert.ok(!peerIdentities(cidrPeer([{ cidr: '1.0.0.0/8' }]), identities).ids.includes(2));
  });
});
