/** A forwarded ingress TCP SYN policy-verdict flow (tiefighter -> deathstar:80) for metric tests; `over` replaces fields. */
import { EVENT_POLICY_VERDICT } from '../datapath/layout.js';
import type { Flow } from '../hubble/flow.js';

export function testFlow(over: Partial<Flow> = {}): Flow {
  return {
    time: '2024-03-14T09:26:53.589Z', uuid: 'u', verdict: 'FORWARDED',
    IP: { source: '10.244.1.10', destination: '10.244.1.20', ipVersion: 'IPv4' },
    l4: { TCP: { source_port: 40000, destination_port: 80, flags: { SYN: true } } },
    source: { identity: 257 }, destination: { identity: 256 }, Type: 'L3_L4', node_name: 'n',
    event_type: { type: EVENT_POLICY_VERDICT }, traffic_direction: 'INGRESS', policy_match_type: 2, is_reply: false, Summary: '',
    ...over,
  };
}
