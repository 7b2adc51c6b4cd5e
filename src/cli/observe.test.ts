/**
 * `membrane observe` flags -> Hubble FlowFilters (cilium-semantics.md §6.4):
 * an either-side flag (--pod, --namespace, --label, --ip, --identity, --port)
 * gives a source filter OR a destination filter; from-/to- flags and the
 * rest hold in every filter. Also --since/--until parsing.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MembraneError } from '../common/errors.js';
import { type FlowFilter, flowPasses } from '../hubble/filter.js';
import type { Flow, FlowEndpoint } from '../hubble/flow.js';
import { buildFilters, parseTime } from './observe.js';

type Options = Parameters<typeof buildFilters>[0];
const opts = (o: Partial<Options>): Options => ({ output: 'compact', ...o });

describe('buildFilters', () => {
  const table: [string, Partial<Options>, FlowFilter[]][] = [
    ['no filter flags give no filters (every flow)', {}, []],
    ['--to-service is a destination_service filter', { toService: ['default/deathstar'] }, [{ destination_service: ['default/deathstar'] }]],
    ['--service forks into source_service OR destination_service', { service: ['kube-system/kube-dns'] },
      [{ source_service: ['kube-system/kube-dns'] }, { destination_service: ['kube-system/kube-dns'] }]],
    ['--pod forks into a source_pod filter OR a destination_pod filter', { pod: ['deathstar'] },
      [{ source_pod: ['deathstar'] }, { destination_pod: ['deathstar'] }]],
    ['--pod twice lists both pods on each side', { pod: ['default/xwing', 'default/tiefighter'] },
      [{ source_pod: ['default/xwing', 'default/tiefighter'] }, { destination_pod: ['default/xwing', 'default/tiefighter'] }]],
    ['--pod with --verdict puts the verdict in both filters', { pod: ['default/deathstar'], verdict: ['DROPPED'] },
      [{ source_pod: ['default/deathstar'], verdict: ['DROPPED'] }, { destination_pod: ['default/deathstar'], verdict: ['DROPPED'] }]],
    ['--from-pod with --verdict is one filter (AND)', { fromPod: ['default/xwing'], verdict: ['DROPPED'] },
      [{ source_pod: ['default/xwing'], verdict: ['DROPPED'] }]],
    ['--from-pod and --to-pod are one filter', { fromPod: ['default/xwing'], toPod: ['default/deathstar'] },
      [{ source_pod: ['default/xwing'], destination_pod: ['default/deathstar'] }]],
    ['--verdict is case-insensitive and normalised to the enum name', { verdict: ['dropped'] }, [{ verdict: ['DROPPED'] }]],
    ['--namespace becomes "ns/" pod filters on either side', { namespace: ['kube-system'] },
      [{ source_pod: ['kube-system/'] }, { destination_pod: ['kube-system/'] }]],
    ['--from-namespace / --to-namespace become "ns/" source / destination pod filters', { fromNamespace: ['default'], toNamespace: ['kube-system'] },
      [{ source_pod: ['default/'], destination_pod: ['kube-system/'] }]],
    ['--type drop is event type 1', { type: ['drop'] }, [{ event_type: [{ type: 1 }] }]],
    ['--type policy-verdict is event type 5', { type: ['policy-verdict'] }, [{ event_type: [{ type: 5 }] }]],
    ['--type drop:133 narrows to the sub-type', { type: ['drop:133'] }, [{ event_type: [{ type: 1, sub_type: 133 }] }]],
    ['--type twice accepts either type', { type: ['drop', 'policy-verdict'] }, [{ event_type: [{ type: 1 }, { type: 5 }] }]],
    ['--traffic-direction ingress', { trafficDirection: ['ingress'] }, [{ traffic_direction: ['INGRESS'] }]],
    ['--traffic-direction in any case', { trafficDirection: ['Egress'] }, [{ traffic_direction: ['EGRESS'] }]],
    ['--port forks into source_port OR destination_port', { port: ['80'] }, [{ source_port: ['80'] }, { destination_port: ['80'] }]],
    ['--to-port is a destination port', { toPort: ['8080'] }, [{ destination_port: ['8080'] }]],
    ['--from-port is a source port', { fromPort: ['41234'] }, [{ source_port: ['41234'] }]],
    ['--identity forks into numeric source / destination identities', { identity: ['258'] }, [{ source_identity: [258] }, { destination_identity: [258] }]],
    ['--to-identity is a numeric destination identity', { toIdentity: ['2'] }, [{ destination_identity: [2] }]],
    ['--ip forks and keeps CIDRs as given', { ip: ['10.244.0.0/16'] }, [{ source_ip: ['10.244.0.0/16'] }, { destination_ip: ['10.244.0.0/16'] }]],
    ['--label forks into source / destination labels', { label: ['k8s:org=empire'] }, [{ source_label: ['k8s:org=empire'] }, { destination_label: ['k8s:org=empire'] }]],
    ['--drop-reason-desc is normalised to the enum name', { dropReasonDesc: ['policy_denied'] }, [{ drop_reason_desc: ['POLICY_DENIED'] }]],
    ['--protocol and --node-name hold in the one filter', { protocol: ['tcp'], nodeName: ['node-1'] }, [{ protocol: ['tcp'], node_name: ['node-1'] }]],
  ];
  for (const [spec, o, expected] of table) {
    it(spec, () => assert.deepEqual(buildFilters(opts(o)), expected));
  }

  it('--pod with --label pairs the sides, as Hubble does: (source is the pod and has the label) OR (destination is and has)', () => {
    assert.deepEqual(buildFilters(opts({ pod: ['default/deathstar'], label: ['k8s:org=empire'] })), [
      { source_pod: ['default/deathstar'], source_label: ['k8s:org=empire'] },
      { destination_pod: ['default/deathstar'], destination_label: ['k8s:org=empire'] },
    ]);
  });

  const invalid: [string, Partial<Options>, RegExp][] = [
    ['an unknown verdict', { verdict: ['MAYBE'] }, /--verdict: "MAYBE" is not one of FORWARDED, DROPPED/],
    ['an unknown type', { type: ['bogus'] }, /--type: "bogus" is not one of drop, trace, policy-verdict/],
    ['an unknown traffic direction', { trafficDirection: ['sideways'] }, /--traffic-direction: "sideways"/],
    ['a port that is not a number', { port: ['http'] }, /--port: "http" is not a number/],
    ['a source port that is not a number', { fromPort: ['8o'] }, /--from-port: "8o"/],
    ['a destination port that is not a number', { toPort: ['-1'] }, /--to-port: "-1"/],
    ['an identity that is not a number', { identity: ['abc'] }, /--identity: "abc"/],
    ['a source identity that is not a number', { fromIdentity: ['1.5'] }, /--from-identity: "1.5"/],
    ['a destination identity that is not a number', { toIdentity: [''] }, /--to-identity: ""/],
    ['a sub-type that is not a number', { type: ['drop:abc'] }, /--type: "drop:abc"/],
  ];
  for (const [what, o, message] of invalid) {
    it(`rejects ${what} with an EINVAL error that names the flag`, () => {
      assert.throws(() => buildFilters(opts(o)), (err: unknown) => {
        assert.ok(err instanceof MembraneError, String(err));
        assert.equal(err.code, 'EINVAL');
        assert.match(err.message, message);
        return true;
      });
    });
  }
});

describe('buildFilters never silently drops a constraint', () => {
  const pod = (namespace: string, name: string, identity: number): FlowEndpoint => ({ identity, namespace, pod_name: name });
  const between = (source: FlowEndpoint, destination: FlowEndpoint): Flow => ({
    time: '2024-03-14T09:26:53.589Z', uuid: 'u', verdict: 'FORWARDED', IP: { source: '10.244.1.30', destination: '10.244.2.5', ipVersion: 'IPv4' },
    source, destination, Type: 'L3_L4', node_name: 'node-1', event_type: { type: 5 }, traffic_direction: 'EGRESS', Summary: '',
  });
  const xwing = pod('default', 'xwing', 258);
  const coredns = pod('kube-system', 'coredns-5d78c9869d-abcde', 102);

  // Hubble rejects these combinations ("filters --pod and --from-pod cannot be
  // combined"); combining them is also fine as long as both still hold.
  const combos: [string, Partial<Options>][] = [
    ['--pod deathstar --from-pod xwing', { pod: ['default/deathstar'], fromPod: ['default/xwing'] }],
    ['--pod deathstar --namespace kube-system', { pod: ['default/deathstar'], namespace: ['kube-system'] }],
    ['--pod deathstar --from-namespace default', { pod: ['default/deathstar'], fromNamespace: ['default'] }],
  ];
  for (const [flags, o] of combos) {
    it(`${flags}: a flow xwing -> coredns (deathstar on neither side) is rejected or filtered out`, () => {
      let filters: FlowFilter[];
      try {
        filters = buildFilters(opts(o));
      } catch (err) {
        assert.ok(err instanceof MembraneError && err.code === 'EINVAL', `rejected with a MembraneError EINVAL, got ${String(err)}`);
        return;
      }
      assert.equal(flowPasses(between(xwing, coredns), filters, undefined), false, `filters ${JSON.stringify(filters)}`);
    });
  }
});

describe('parseTime', () => {
  const relative: [string, number][] = [['30s', 30_000], ['250ms', 250], ['4m', 240_000], ['1h', 3_600_000], ['1.5h', 5_400_000], ['2d', 172_800_000]];
  for (const [text, agoMs] of relative) {
    it(`"${text}" means ${agoMs} ms before now`, () => {
      const before = Date.now();
      const t = Date.parse(parseTime(text, '--since'));
      const after = Date.now();
      assert.ok(t >= before - agoMs && t <= after - agoMs, `${new Date(t).toISOString()} is ${agoMs} ms before [${before}, ${after}]`);
    });
  }

  const absolute: [string, string][] = [
    ['2024-03-14T09:26:53Z', '2024-03-14T09:26:53.000Z'],
    ['2024-03-14T10:26:53.589+01:00', '2024-03-14T09:26:53.589Z'],
  ];
  for (const [text, iso] of absolute) it(`an absolute time "${text}" is that instant (${iso})`, () => assert.equal(parseTime(text, '--since'), iso));

  const bad = ['yesterday', '5 minutes', '-3s', '5'];
  for (const text of bad) {
    it(`rejects "${text}" naming the flag`, () => {
      assert.throws(() => parseTime(text, '--until'), (err: unknown) => err instanceof MembraneError && err.code === 'EINVAL' && err.message.startsWith(`--until: "${text}"`));
    });
  }
});
