/**
 * Kubernetes NetworkPolicy ("KNP") translated into membrane's rules, as Cilium
 * translates it (§3.5), so that resolution and the datapath need nothing of
 * their own for it. One KNP becomes one rule labelled
 * `io.cilium.k8s.policy.derived-from=NetworkPolicy`:
 *  1. `podSelector` (absent = `{}`) becomes the endpointSelector, limited to
 *     the policy's namespace. All selector keys get the `k8s:` source: KNP
 *     selects on Kubernetes labels only.
 *  2. Only the directions in `policyTypes` are translated. Without
 *     policyTypes: Ingress always, Egress when `egress` has rules (the API
 *     server's defaulting).
 *  3. Each `ingress[i]` (`egress[i]`) becomes entry i of the ingress (egress)
 *     section with a `fromEndpoints` (`toEndpoints`) peer: one selector per
 *     peer, so separate peers are ORed. A missing or empty `from`/`to` is the
 *     `{}` selector, i.e. any peer (identity 0), world and host included: KNP's
 *     `ingress: [{}]` allows everything, where the same text in a
 *     CiliumNetworkPolicy allows nothing.
 *  4. A peer with `podSelector` alone selects those pods of the policy's
 *     namespace. A `namespaceSelector` selects on the pods' namespace-label
 *     identity labels (`k8s:io.cilium.k8s.namespace.labels.<key>`), `{}` on the
 *     presence of a pod namespace (every pod of every namespace, but not host
 *     or world); a podSelector next to it is ANDed, not namespace-limited.
 *  5. `ports` become one port rule: protocol TCP unless given, no `port` =
 *     every port of the protocol. Missing or empty `ports` = every port.
 *  6. A listed direction without rules gets one entry without peer and ports,
 *     which (as in a CiliumNetworkPolicy) enforces default deny and allows nothing.
 *  7. `ipBlock` peers become a `fromCIDRSet` (`toCIDRSet`) peer of their own
 *     entry (same ports, same path), next to the entry of the selector peers:
 *     the CIDR peer gets CIDR identities (cidrs.ts) as in Cilium, and, as
 *     Kubernetes defines ipBlock and unlike Cilium, also matches pods whose
 *     IPs are in the block (`matchesPods`, approximated per identity: see
 *     peers.ts). IPv6 blocks are kept for display but select no traffic,
 *     pods included (ipv6.ts): an entry of IPv6 blocks only allows nothing,
 *     and its direction is still enforced (ipv6IpBlocks below warns).
 */
import type { PolicyRef } from '../api/types.js';
import { NAMESPACE_LABELS_PREFIX, POD_NAMESPACE_LABEL } from '../labels/k8s.js';
import { LabelSet, LabelSource } from '../labels/labels.js';
import { EndpointSelector, type LabelSelectorSpec } from '../labels/selector.js';
import { formatCidr, parseCidr } from './cidr.js';
import type { KnpDocument, KnpPeer, KnpPort, KnpSelector, KnpSpec } from './knpschema.js';
import { isIPv6Cidr, nothingLeft, selectsNoTraffic, type PolicyNotice } from './ipv6.js';
import { cidrPeer, derivedPolicyLabels, subjectSelector } from './normalize.js';
import type { ParsedPolicy, PeerRule, PolicyRule, PortProtocol } from './types.js';

type Direction = 'ingress' | 'egress';
const PEER_LIST = { ingress: 'from', egress: 'to' } as const;
const PEER_FIELD = { ingress: 'fromEndpoints', egress: 'toEndpoints' } as const;
const CIDR_FIELD = { ingress: 'fromCIDRSet', egress: 'toCIDRSet' } as const;

/** The directions a KNP enforces (rule 2). */
export function knpPolicyTypes(spec: KnpSpec): Record<Direction, boolean> {
  if (spec.policyTypes) return { ingress: spec.policyTypes.includes('Ingress'), egress: spec.policyTypes.includes('Egress') };
  return { ingress: true, egress: (spec.egress ?? []).length > 0 };
}

/** The selector with every key given the `k8s:` source, and `keyPrefix` put before each key. */
function k8sSourced(sel: KnpSelector, keyPrefix = ''): LabelSelectorSpec {
  const key = (k: string) => `${LabelSource.K8s}:${keyPrefix}${k}`;
  const out: LabelSelectorSpec = {};
  if (sel.matchLabels) out.matchLabels = Object.fromEntries(Object.entries(sel.matchLabels).map(([k, v]) => [key(k), v]));
  if (sel.matchExpressions) out.matchExpressions = sel.matchExpressions.map((e) => ({ ...e, key: key(e.key) }));
  return out;
}

/** Rule 4. `undefined` for an ipBlock peer, which selects no endpoint. */
function peerSelector(peer: KnpPeer, namespace: string): EndpointSelector | undefined {
  if (peer.namespaceSelector) {
    let namespaces = EndpointSelector.fromLabelSelector(k8sSourced(peer.namespaceSelector, NAMESPACE_LABELS_PREFIX));
    if (namespaces.selectsAll) namespaces = namespaces.and(`${LabelSource.K8s}:${POD_NAMESPACE_LABEL}`, 'Exists');
    const pods = EndpointSelector.fromLabelSelector(k8sSourced(peer.podSelector ?? {}));
    return EndpointSelector.fromRequirements([...namespaces.requirements, ...pods.requirements]);
  }
  if (peer.podSelector) return subjectSelector(k8sSourced(peer.podSelector), namespace);
  return undefined;
}

function portProtocol(port: KnpPort): PortProtocol {
  const out: PortProtocol = { port: port.port ?? 0, protocol: (port.protocol ?? 'TCP') as PortProtocol['protocol'] };
  if (port.endPort !== undefined) out.endPort = port.endPort;
  return out;
}

const normalCidr = (text: string): string => formatCidr(parseCidr(text)!);

/** Rules 3, 5 and 7: one entry for the selector peers, one for the ipBlocks, each with the rule's ports. */
function peerRules(rule: { from?: KnpPeer[]; to?: KnpPeer[]; ports?: KnpPort[] }, dir: Direction, namespace: string, path: string): PeerRule[] {
  const peers = rule[PEER_LIST[dir]] ?? [];
  const selectors = peers.length === 0 ? [EndpointSelector.ALL]
    : peers.map((p) => peerSelector(p, namespace)).filter((s): s is EndpointSelector => s !== undefined);
  const blocks = peers.flatMap((p) => (p.ipBlock ? [p.ipBlock] : []));
  const toPorts = rule.ports && rule.ports.length > 0 ? [{ ports: rule.ports.map(portProtocol) }] : undefined;
  const out: PeerRule[] = [];
  if (selectors.length > 0) out.push({ peer: { kind: 'endpoints', field: PEER_FIELD[dir], selectors }, path });
  if (blocks.length > 0) {
    const cidrs = blocks.map((b) => ({ cidr: normalCidr(b.cidr), except: (b.except ?? []).map(normalCidr) }));
    out.push({ peer: { ...cidrPeer(CIDR_FIELD[dir], cidrs), matchesPods: true }, path });
  }
  if (toPorts) for (const r of out) r.toPorts = toPorts.map((p) => ({ ports: [...p.ports] }));
  return out;
}

function section(spec: KnpSpec, dir: Direction, enforced: boolean, namespace: string): PeerRule[] {
  if (!enforced) return [];
  const rules = (spec[dir] ?? []).flatMap((r, i) => peerRules(r, dir, namespace, `spec.${dir}[${i}]`));
  // Rule 6: default deny for a listed direction without rules.
  return rules.length > 0 ? rules : [{ path: spec.policyTypes ? 'spec.policyTypes' : 'spec' }];
}

/** `object` is kept as given; `doc` is its validated form. */
export function translateNetworkPolicy(doc: KnpDocument, object: unknown, defaultNamespace: string): ParsedPolicy {
  const namespace = doc.metadata.namespace ?? defaultNamespace;
  const ref: PolicyRef = { kind: 'NetworkPolicy', namespace, name: doc.metadata.name };
  const types = knpPolicyTypes(doc.spec);
  const rule: PolicyRule = {
    index: 0,
    path: 'spec',
    endpointSelector: subjectSelector(k8sSourced(doc.spec.podSelector ?? {}), namespace),
    labels: LabelSet.of(derivedPolicyLabels(ref)),
    enableDefaultDeny: {},
    ingress: section(doc.spec, 'ingress', types.ingress, namespace),
    ingressDeny: [],
    egress: section(doc.spec, 'egress', types.egress, namespace),
    egressDeny: [],
  };
  return { ref, object, rules: [rule] };
}

/**
 * Every IPv6 ipBlock of a validated KNP, as warnings at its `cidr` (its
 * excepts are inside it, so IPv6 too): it selects no traffic (ipv6.ts). When
 * a rule's peers are all IPv6 ipBlocks, the warning says it allows nothing.
 */
export function ipv6IpBlocks(doc: KnpDocument): PolicyNotice[] {
  const notices: PolicyNotice[] = [];
  for (const dir of ['ingress', 'egress'] as const) {
    const list = PEER_LIST[dir];
    (doc.spec[dir] ?? []).forEach((rule: { from?: KnpPeer[]; to?: KnpPeer[] }, i) => {
      const peers = rule[list] ?? [];
      const ipv6 = peers.map((peer, k) => ({ cidr: peer.ipBlock?.cidr, k })).filter(({ cidr }) => cidr !== undefined && isIPv6Cidr(cidr));
      const more = ipv6.length === peers.length ? nothingLeft(false, 'peer') : '';
      for (const { cidr, k } of ipv6) {
        notices.push({ path: ['spec', dir, i, list, k, 'ipBlock', 'cidr'], message: selectsNoTraffic(`IPv6 ipBlock ${cidr!}`, more) });
      }
    });
  }
  return notices;
}
