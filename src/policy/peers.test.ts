import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LabelSet } from '../labels/labels.js';
import { EndpointSelector } from '../labels/selector.js';
import { peerIdentities } from './peers.js';
import type { CidrGroup, CidrGroups, PeerSpec } from './types.js';

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
    // The datapath is IPv4-only and drops every IPv6 packet: an IPv6 prefix selects nothing, not even an IPv6 CIDR identity.
    assert.deepEqual(peerIdentities(cidrPeer([{ cidr: '2001:db8::/16' }]), identities).ids, []);
    assert.deepEqual(peerIdentities(cidrPeer([{ cidr: '10.0.0.0/8' }]), identities).ids, []);
  });

  it('select plain world, identity 2, only with a /0', () => {
    assert.deepEqual(peerIdentities(cidrPeer([{ cidr: '0.0.0.0/0' }]), identities), { wildcard: false, ids: [2, 16777217, 16777218] });
    assert.ok(!peerIdentities(cidrPeer([{ cidr: '1.0.0.0/8' }]), identities).ids.includes(2));
  });
});

describe('CIDR group peers', () => {
  const group = (name: string, cidrs: string[], labels: Record<string, string> = {}): [string, CidrGroup] =>
    [name, { name, cidrs, labels: LabelSet.fromRecord(labels, 'cidrgroup') }];
  const groups: CidrGroups = new Map([group('one', ['1.0.0.0/8'], { team: 'a' }), group('host', ['1.0.0.1/32'], { team: 'b' })]);
  const refPeer = (ref: string, except: string[] = []): PeerSpec => ({ kind: 'cidr', field: 'toCIDRSet', cidrs: [{ cidrGroupRef: ref, except }] });

  it('select through the CIDRs of the group they name, minus excepts', () => {
    assert.deepEqual(peerIdentities(refPeer('one'), identities, { cidrGroups: groups }).ids, [16777217, 16777218]);
    assert.deepEqual(peerIdentities(refPeer('one', ['1.0.0.1/32']), identities, { cidrGroups: groups }).ids, [16777217]);
    assert.deepEqual(peerIdentities(refPeer('host'), identities, { cidrGroups: groups }).ids, [16777218]);
  });

  it('select nothing while the group does not exist, or without groups at all', () => {
    assert.deepEqual(peerIdentities(refPeer('missing'), identities, { cidrGroups: groups }).ids, []);
    assert.deepEqual(peerIdentities(refPeer('one'), identities).ids, []);
  });

  it('select through every group a cidrGroupSelector matches', () => {
    const bySelector = (labels: Record<string, string>): PeerSpec =>
      ({ kind: 'cidr', field: 'toCIDRSet', cidrs: [{ cidrGroupSelector: EndpointSelector.fromLabelSelector({ matchLabels: labels }), except: [] }] });
    assert.deepEqual(peerIdentities(bySelector({ team: 'b' }), identities, { cidrGroups: groups }).ids, [16777218]);
    assert.deepEqual(peerIdentities(bySelector({ team: 'c' }), identities, { cidrGroups: groups }).ids, []);
  });
});
