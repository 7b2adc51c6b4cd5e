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
 * `ipBlock` peers are refused before translation (unsupportedIpBlocks below).
 */
import type { PolicyRef } from '../api/types.js';
import { NAMESPACE_LABELS_PREFIX, POD_NAMESPACE_LABEL } from '../labels/k8s.js';
import { LabelSet, LabelSource } from '../labels/labels.js';
import { EndpointSelector, type LabelSelectorSpec } from '../labels/selector.js';
import type { KnpDocument, KnpPeer, KnpPort, KnpSelector, KnpSpec } from './knpschema.js';
import { derivedPolicyLabels, subjectSelector } from './normalize.js';
import type { ParsedPolicy, PeerRule, PolicyRule, PortProtocol } from './types.js';

type Direction = 'ingress' | 'egress';
const PEER_LIST = { ingress: 'from', egress: 'to' } as const;
const PEER_FIELD = { ingress: 'fromEndpoints', egress: 'toEndpoints' } as const;

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

function peerRule(rule: { from?: KnpPeer[]; to?: KnpPeer[]; ports?: KnpPort[] }, dir: Direction, namespace: string, path: string): PeerRule {
  const peers = rule[PEER_LIST[dir]] ?? [];
  const selectors = peers.length === 0 ? [EndpointSelector.ALL]
    : peers.map((p) => peerSelector(p, namespace)).filter((s): s is EndpointSelector => s !== undefined);
  const out: PeerRule = { peer: { kind: 'endpoints', field: PEER_FIELD[dir], selectors }, path };
  if (rule.ports && rule.ports.length > 0) out.toPorts = [{ ports: rule.ports.map(portProtocol) }];
  return out;
}

function section(spec: KnpSpec, dir: Direction, enforced: boolean, namespace: string): PeerRule[] {
  if (!enforced) return [];
  const rules = (spec[dir] ?? []).map((r, i) => peerRule(r, dir, namespace, `spec.${dir}[${i}]`));
  // Rule 6: default deny for a listed direction without rules.
  return rules.length > 0 ? rules : [{ path: spec.policyTypes ? 'spec.policyTypes' : 'spec' }];
}

/** `object` is kept as given; `doc` is its validated form without ipBlock peers. */
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

export interface UnsupportedIpBlock {
  /** Relative to the policy object, e.g. `['spec', 'egress', 0, 'to', 1, 'ipBlock']`. */
  path: (string | number)[];
  message: string;
}

/**
 * Every ipBlock peer of a validated KNP. membrane has no CIDR identities yet
 * (see cidrgate.ts): an ipBlock would select no traffic, so its rule would
 * allow less than written. The policy is refused rather than enforced wrongly.
 */
export function unsupportedIpBlocks(doc: KnpDocument): UnsupportedIpBlock[] {
  const problems: UnsupportedIpBlock[] = [];
  for (const dir of ['ingress', 'egress'] as const) {
    const list = PEER_LIST[dir];
    (doc.spec[dir] ?? []).forEach((rule: { from?: KnpPeer[]; to?: KnpPeer[] }, i) => {
      (rule[list] ?? []).forEach((peer, k) => {
        if (!peer.ipBlock) return;
        problems.push({
          path: ['spec', dir, i, list, k, 'ipBlock'],
          message: `ipBlock is not supported yet: membrane has no CIDR identities, so ${JSON.stringify(peer.ipBlock.cidr)} would select ` +
            `no traffic and the rule would allow less than written; select pods with podSelector or namespaceSelector, ` +
            `or use a CiliumNetworkPolicy with ${list}Entities: [world]`,
        });
      });
    });
  }
  return problems;
}
