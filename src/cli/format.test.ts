/**
 * CLI text tables, shaped like Cilium's (cilium-semantics.md §7): columns
 * three spaces apart, multi-line cells (labels) continuing on the lines
 * below in their own column.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointModel, IdentityModel, StatusModel } from '../api/types.js';
import { formatEndpointList, formatIdentityList, formatStatus, table } from './format.js';

/** Splits a table line into its cells, at the columns where the header's titles start. */
function cells(header: string, titles: string[], line: string): Record<string, string> {
  const starts = titles.map((t) => {
    const at = header.indexOf(t);
    assert.ok(at >= 0, `header has column ${t}: ${header}`);
    return at;
  });
  return Object.fromEntries(titles.map((t, i) => [t, line.slice(starts[i], starts[i + 1] ?? line.length).trim()]));
}

function assertTidy(out: string): void {
  assert.ok(out.endsWith('\n'), 'ends with a newline');
  for (const line of out.slice(0, -1).split('\n')) assert.equal(line, line.trimEnd(), `no trailing spaces: ${JSON.stringify(line)}`);
}

describe('table', () => {
  it('pads every column to its widest cell, three spaces apart', () => {
    assert.equal(table(['ID', 'NAME'], [['1', 'tiefighter'], ['256', 'x']]), [
      'ID    NAME',
      '1     tiefighter',
      '256   x',
      '',
    ].join('\n'));
  });

  it('continues a multi-line cell on the lines below, in its own column, other columns blank', () => {
    assert.equal(table(['ID', 'LABELS', 'STATE'], [['7', 'k8s:a=1\nk8s:bb=2', 'ready']]), [
      'ID   LABELS     STATE',
      '7    k8s:a=1    ready',
      '     k8s:bb=2',
      '',
    ].join('\n'));
  });

  it('measures a multi-line cell by its longest line', () => {
    const out = table(['L', 'X'], [['a\nlonger-line\nb', 'x']]);
    assert.equal(out.split('\n')[0], 'L             X');
  });

  it('prints only the header for no rows, and blank cells for missing ones', () => {
    assert.equal(table(['A', 'B'], []), 'A   B\n');
    assert.equal(table(['A', 'B', 'C'], [['1']]), 'A   B   C\n1\n');
  });
});

describe('formatEndpointList', () => {
  const ep = (id: number, ingress: boolean, egress: boolean, identity: number, labels: string[], ipv4: string, state: EndpointModel['state']): EndpointModel => ({
    id, containerId: `c${id}`, ifName: 'eth0', netns: `/var/run/netns/p${id}`, hostIfName: `lxc${id}`, hostIfIndex: id, hostMac: '02:00:00:00:00:01',
    containerMac: '02:00:00:00:00:02', ipv4, identity, labels, state, policy: { ingressEnforcing: ingress, egressEnforcing: egress, revision: 2, mapEntries: 3 },
  });
  const TITLES = ['ENDPOINT', 'POLICY (ingress) ENFORCEMENT', 'POLICY (egress) ENFORCEMENT', 'IDENTITY', 'LABELS (source:key[=value])', 'IPv4', 'STATUS'];
  const deathstarLabels = ['k8s:class=deathstar', 'k8s:io.kubernetes.pod.namespace=default', 'k8s:org=empire'];
  const out = formatEndpointList([
    ep(2756, true, false, 256, deathstarLabels, '10.244.1.20', 'ready'),
    ep(77, false, true, 5, [], '10.244.1.7', 'waiting-for-identity'),
  ]);
  const lines = out.slice(0, -1).split('\n');
  const header = lines[0]!;

  it('has Cilium\'s columns in Cilium\'s order (IPv4 only), three spaces apart', () => {
    assert.ok(header.startsWith('ENDPOINT   POLICY (ingress) ENFORCEMENT   POLICY (egress) ENFORCEMENT   IDENTITY   LABELS (source:key[=value])'), header);
    assert.deepEqual(header.split(/ {3,}/), TITLES);
  });

  const rows: [string, number, Record<string, string>][] = [
    ['the first line of an endpoint: id, Enabled/Disabled per direction, identity, first label, IPv4, state', 1, {
      'ENDPOINT': '2756', 'POLICY (ingress) ENFORCEMENT': 'Enabled', 'POLICY (egress) ENFORCEMENT': 'Disabled', 'IDENTITY': '256',
      'LABELS (source:key[=value])': 'k8s:class=deathstar', 'IPv4': '10.244.1.20', 'STATUS': 'ready',
    }],
    ['further labels, one per line under LABELS, other columns blank', 2, {
      'ENDPOINT': '', 'POLICY (ingress) ENFORCEMENT': '', 'POLICY (egress) ENFORCEMENT': '', 'IDENTITY': '',
      'LABELS (source:key[=value])': 'k8s:io.kubernetes.pod.namespace=default', 'IPv4': '', 'STATUS': '',
    }],
    ['the last label line', 3, {
      'ENDPOINT': '', 'POLICY (ingress) ENFORCEMENT': '', 'POLICY (egress) ENFORCEMENT': '', 'IDENTITY': '',
      'LABELS (source:key[=value])': 'k8s:org=empire', 'IPv4': '', 'STATUS': '',
    }],
    ['an endpoint without labels yet shows reserved:init, egress-only enforcement and its state', 4, {
      'ENDPOINT': '77', 'POLICY (ingress) ENFORCEMENT': 'Disabled', 'POLICY (egress) ENFORCEMENT': 'Enabled', 'IDENTITY': '5',
      'LABELS (source:key[=value])': 'reserved:init', 'IPv4': '10.244.1.7', 'STATUS': 'waiting-for-identity',
    }],
  ];
  for (const [spec, index, expected] of rows) {
    it(`line ${index}: ${spec}`, () => assert.deepEqual(cells(header, TITLES, lines[index] ?? ''), expected));
  }

  it('starts every label line at the LABELS column', () => {
    const at = header.indexOf('LABELS');
    for (const [i, label] of deathstarLabels.entries()) assert.equal(lines[1 + i]!.indexOf(label), at, label);
  });

  it('has exactly the header, three label lines and one line for the second endpoint, tidy', () => {
    assert.equal(lines.length, 5);
    assertTidy(out);
  });
});

describe('formatIdentityList', () => {
  it('lists ID and LABELS, one label per line', () => {
    const ids: IdentityModel[] = [
      { id: 1, labels: ['reserved:host'], reserved: true, references: 0 },
      { id: 256, labels: ['k8s:class=deathstar', 'k8s:org=empire'], reserved: false, references: 2 },
    ];
    assert.equal(formatIdentityList(ids), [
      'ID    LABELS',
      '1     reserved:host',
      '256   k8s:class=deathstar',
      '      k8s:org=empire',
      '',
    ].join('\n'));
  });
});

describe('formatStatus', () => {
  const status: StatusModel = {
    node: 'node-1', version: '0.1.0', uptimeSeconds: 42,
    datapath: { pinnedDir: '/sys/fs/bpf/membrane/node-1', programsAttached: 3, adopted: false },
    ipam: { podCIDR: '10.244.1.0/24', allocated: 4, capacity: 254 },
    endpoints: 3, identities: 7, policyRevision: 2, lastRegeneration: { written: 5, deleted: 1, endpoints: 3, resolutions: 2, groups: 2, endpointsSynced: 0 },
    flows: { current: 100, max: 4095, seen: 1234, lost: 0 },
  };

  it('prints one aligned "Key:   value" line per subsystem, as cilium status does', () => {
    assert.equal(formatStatus(status), [
      'Node:              node-1',
      'membrane:          Ok 0.1.0',
      'Datapath:          Ok, maps pinned in /sys/fs/bpf/membrane/node-1, programs on 3/3 endpoints',
      'IPAM:              IPv4: 4/254 allocated from 10.244.1.0/24',
      'Endpoints:         3',
      'Identities:        7',
      'Policy revision:   2 (last regeneration: 3 endpoints, 2 resolutions, 5 map writes, 1 deletes)',
      'Flows:             Current/Max Flows: 100/4095 (2.44%), seen 1234, lost in the kernel 0',
      'Uptime:            42s',
      '',
    ].join('\n'));
  });

  const variants: [string, Partial<StatusModel>, RegExp][] = [
    ['says when the datapath was adopted after a restart', { datapath: { ...status.datapath, adopted: true } }, /^Datapath: {10}Ok, maps pinned in \S+ \(adopted after restart\), programs on 3\/3 endpoints$/m],
    ['shows a full flow ring as 100.00%, like Hubble', { flows: { current: 4095, max: 4095, seen: 9000, lost: 12 } }, /^Flows: {13}Current\/Max Flows: 4095\/4095 \(100\.00%\), seen 9000, lost in the kernel 12$/m],
    ['shows programs on fewer endpoints than exist', { endpoints: 4 }, /programs on 3\/4 endpoints$/m],
    ['shows the agent events ring and what slow followers lost of it', { agentEvents: { current: 12, max: 4095, seen: 12, lostToFollowers: 3 } },
      /^Agent events: {6}Current\/Max: 12\/4095, seen 12, lost to slow followers 3$/m],
    ['says when the L7 proxy dropped flows the agent was slow to take',
      { l7Proxy: { enabled: true, running: true, pid: 7, restarts: 0, connections: 1, accepted: 4, listening: [15001, 15002], revision: 2, recordsDropped: 9 } },
      /^L7 proxy: {10}Ok, pid 7, listening on 15001, 15002; 1 connections open, 4 accepted, 0 restarts, config revision 2, 9 flows dropped \(the agent was slow to take them\)$/m],
  ];
  for (const [spec, change, line] of variants) {
    it(spec, () => assert.match(formatStatus({ ...status, ...change }), line));
  }
});
