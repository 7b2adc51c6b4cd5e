/**
 * The datapath benchmark's rule sets and tool parsers (no kernel involved).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicyText } from '../policy/parse.js';
import {
  BENCH_PORTS, cidrPolicyText, fillerAddresses, firewallSources, identityPolicyText, iptablesRestoreText, l3l4PolicyText, nftSetText,
  parseIperf3Json, parsePpRate, seededPeerLabels, withSeededPeers,
} from './datapath-rules.js';

/** Addresses the benchmark may name: pods and its own namespaces (10/8) and the documentation ranges. */
function allowed(ip: string): boolean {
  return ip.startsWith('10.') || ip.startsWith('198.51.100.') || ip.startsWith('203.0.113.');
}

const ADDRESS = /\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b/g;

describe('datapath benchmark rules', () => {
  it('gives distinct filler addresses from the documentation ranges, then 10.201.0.0/16', () => {
    const ips = fillerAddresses(10_000);
    assert.equal(new Set(ips).size, 10_000);
    assert.equal(ips[0], '198.51.100.0');
    assert.equal(ips[256], '203.0.113.0');
    assert.equal(ips[512], '10.201.0.0');
    assert.equal(ips[9_999], '10.201.37.15');
    for (const ip of ips) assert.ok(allowed(ip), ip);
    assert.throws(() => fillerAddresses(70_000), RangeError);
  });

  it('skips excluded addresses', () => {
    assert.deepEqual(fillerAddresses(3, ['198.51.100.1']), ['198.51.100.0', '198.51.100.2', '198.51.100.3']);
  });

  it('puts the client last in a firewall of N rules', () => {
    const s = firewallSources(1000, '10.200.0.1');
    assert.equal(s.length, 1000);
    assert.equal(s.at(-1), '10.200.0.1');
    assert.equal(s.indexOf('10.200.0.1'), 999);
    assert.deepEqual(firewallSources(1, '10.200.0.1'), ['10.200.0.1']);
    assert.throws(() => firewallSources(0, '10.200.0.1'), RangeError);
  });

  it('writes iptables-restore input: policy DROP, established first, one rule per source in order', () => {
    const text = iptablesRestoreText(['198.51.100.0', '10.200.0.1']);
    const lines = text.trimEnd().split('\n');
    assert.deepEqual(lines, [
      '*filter',
      ':INPUT DROP [0:0]',
      ':FORWARD DROP [0:0]',
      ':OUTPUT ACCEPT [0:0]',
      '-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
      '-A INPUT -s 198.51.100.0/32 -p tcp -m tcp --dport 5200:5203 -j ACCEPT',
      '-A INPUT -s 10.200.0.1/32 -p tcp -m tcp --dport 5200:5203 -j ACCEPT',
      'COMMIT',
    ]);
    const big = iptablesRestoreText(firewallSources(10_000, '10.200.0.1'));
    assert.equal(big.split('\n').filter((l) => l.startsWith('-A INPUT -s ')).length, 10_000);
    for (const ip of big.match(ADDRESS) ?? []) assert.ok(allowed(ip), ip);
  });

  it('writes one nft table with a set and a single rule that looks it up', () => {
    const text = nftSetText('membrane_bench', firewallSources(10_000, '10.200.0.1'));
    assert.match(text, /^table ip membrane_bench \{/);
    assert.match(text, /type filter hook input priority filter; policy drop;/);
    assert.match(text, /ct state established,related accept\n\s+ip saddr @allowed tcp dport 5200-5203 accept/);
    const elements = /elements = \{ ([^}]*) \}/.exec(text)![1]!.split(', ');
    assert.equal(elements.length, 10_000);
    assert.ok(elements.includes('10.200.0.1'));
    for (const ip of text.match(ADDRESS) ?? []) assert.ok(allowed(ip), ip);
    assert.throws(() => nftSetText('bad name', ['10.200.0.1']), RangeError);
    assert.throws(() => nftSetText('t', []), RangeError);
  });

  it('writes membrane policies the agent parses, with one port range per peer', () => {
    const server = { app: 'bench-server' };
    const client = { app: 'bench-client' };
    const l3l4 = parsePolicyText(l3l4PolicyText(server, client));
    assert.equal(l3l4.length, 2);
    const ids = parsePolicyText(identityPolicyText(server, 1000));
    assert.equal(ids.length, 1);
    const idObject = JSON.parse(identityPolicyText(server, 1000)) as { spec: { ingress: { fromEndpoints: unknown[]; toPorts: unknown[] }[] } }[];
    assert.deepEqual(idObject[0]!.spec.ingress[0]!.fromEndpoints, [{ matchLabels: { 'peers-1000': 'yes' } }]);
    assert.deepEqual(idObject[0]!.spec.ingress[0]!.toPorts, [{ ports: [{ port: String(BENCH_PORTS.first), endPort: BENCH_PORTS.last, protocol: 'TCP' }] }]);
    const cidrText = cidrPolicyText(server, client, fillerAddresses(9_999));
    assert.equal(parsePolicyText(cidrText).length, 1);
    const cidrObject = JSON.parse(cidrText) as { spec: { ingress: { fromCIDR?: string[]; fromEndpoints?: unknown[] }[] } }[];
    assert.equal(cidrObject[0]!.spec.ingress[0]!.fromCIDR!.length, 9_999);
    assert.equal(cidrObject[0]!.spec.ingress[0]!.fromCIDR![0], '198.51.100.0/32');
    assert.deepEqual(cidrObject[0]!.spec.ingress[1]!.fromEndpoints, [{ matchLabels: client }]);
    for (const ip of cidrText.match(ADDRESS) ?? []) assert.ok(allowed(ip), ip);
  });

  it('derives seeded peers from the client so they share its namespace, cluster and service account', () => {
    const client = ['k8s:app=bench-client', 'k8s:io.kubernetes.pod.namespace=default', 'k8s:peers-10=yes', 'k8s:peers-1000=yes'];
    assert.deepEqual(seededPeerLabels(client, 0, [10, 1000]),
      ['k8s:app=bench-peer', 'k8s:bench-peer=0', 'k8s:io.kubernetes.pod.namespace=default', 'k8s:peers-1000=yes', 'k8s:peers-10=yes']);
    // Peer 9 is the 11th member of peers-10 counting the client: left out of it.
    assert.deepEqual(seededPeerLabels(client, 9, [10, 1000]),
      ['k8s:app=bench-peer', 'k8s:bench-peer=9', 'k8s:io.kubernetes.pod.namespace=default', 'k8s:peers-1000=yes']);
  });

  it('seeds peers at the lowest free identities, keeping the existing ones, so each peer set has N members with the client', () => {
    const client = ['k8s:app=bench-client', 'k8s:peers-10=yes', 'k8s:peers-100=yes'];
    const before = { version: 1 as const, identities: [{ id: 256, labels: ['k8s:app=bench-server'] }, { id: 258, labels: client }] };
    const after = withSeededPeers(before, client, 99, [10, 100]);
    assert.equal(after.identities.length, 101);
    assert.deepEqual(after.identities.slice(0, 4).map((i) => i.id), [256, 257, 258, 259]);
    assert.equal(new Set(after.identities.map((i) => i.id)).size, 101);
    assert.equal(new Set(after.identities.map((i) => i.labels.join(','))).size, 101);
    for (const n of [10, 100]) {
      assert.equal(after.identities.filter((i) => i.labels.includes(`k8s:peers-${n}=yes`)).length, n);
    }
    assert.deepEqual(withSeededPeers(undefined, client, 0, []), { version: 1, identities: [] });
  });

  it('reads pp rates and refuses output without one', () => {
    assert.equal(parsePpRate('TCP_RR-like: 62803 transactions in 1.00s = 62803 trans/s; latency us p50=15.1'), 62803);
    assert.equal(parsePpRate('TCP_CRR-like: 14324 connections in 1.00s = 14324 conn/s (69.8 us each)'), 14324);
    assert.throws(() => parsePpRate('connect: Connection refused'), /printed no rate/);
  });

  it('reads iperf3 JSON as the receiver\'s Gbit/s and passes its error on', () => {
    const json = JSON.stringify({ end: { sum_sent: { bits_per_second: 17.5e9 }, sum_received: { bits_per_second: 17.37e9 } } });
    assert.equal(parseIperf3Json(json), 17.37);
    assert.throws(() => parseIperf3Json(JSON.stringify({ error: 'the server is busy running a test. try again later' })), /iperf3 failed: the server is busy/);
    assert.throws(() => parseIperf3Json('iperf3: error - unable to connect'), /no JSON/);
    assert.throws(() => parseIperf3Json('{"end":{}}'), /sum_received/);
  });
});
