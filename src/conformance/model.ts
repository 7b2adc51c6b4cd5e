/**
 * The expectation model of the conformance matrix: which connections between
 * the 9 pods (namespaces x, y, z; pods a, b, c) a set of policies allows, and
 * with which drop reason the others are dropped. Pure.
 *
 * A case describes its policies a second time, as data this model reads:
 * per direction, the pods a rule applies to, whether it puts them in default
 * deny, what it allows and what it denies. The verdict of one connection
 * follows the rules Kubernetes and Cilium document:
 *  1. A pod talking to its own IP never leaves its network namespace
 *     (loopback): always allowed, as the Kubernetes e2e suite's
 *     `AllowLoopback` assumes.
 *  2. The source's egress is decided first (the packet leaves it first), then
 *     the destination's ingress; the connection is allowed only when both
 *     allow, and the reason reported is that of the first side that drops.
 *  3. On one side: a matching deny rule drops with 181 (POLICY_DENY), whatever
 *     allows; otherwise a side no default-deny rule applies to allows;
 *     otherwise a matching allow rule allows, and nothing matching drops with
 *     133 (POLICY_DENIED).
 */

export const NAMESPACES = ['x', 'y', 'z'] as const;
export const POD_NAMES = ['a', 'b', 'c'] as const;
export const PORTS = [80, 81] as const;
export const PROTOCOLS = ['tcp', 'udp'] as const;

export type Namespace = (typeof NAMESPACES)[number];
export type PodName = (typeof POD_NAMES)[number];
export type Port = (typeof PORTS)[number];
export type Protocol = (typeof PROTOCOLS)[number];
export type Verdict = 'allow' | 'deny-133' | 'deny-181';

export interface PodRef {
  ns: Namespace;
  name: PodName;
}

/** Every pod of the matrix, x/a first, in the order tables print them. */
export const ALL_PODS: readonly PodRef[] = NAMESPACES.flatMap((ns) => POD_NAMES.map((name) => ({ ns, name })));

export function podKey(p: PodRef): string {
  return `${p.ns}/${p.name}`;
}

/** Selects pods (a label selector, as the model sees it). */
export type PodSelector = (p: PodRef) => boolean;
/** Selects ports of one protocol. */
export type PortSelector = (port: Port, proto: Protocol) => boolean;

export const anyPod: PodSelector = () => true;
export const noPod: PodSelector = () => false;
/** Pods in any of these namespaces. */
export const inNs = (...ns: Namespace[]): PodSelector => (p) => ns.includes(p.ns);
/** Pods with any of these names (label `pod=<name>`), in every namespace. */
export const named = (...names: PodName[]): PodSelector => (p) => names.includes(p.name);
/** One pod, as "x/a". */
export const pod = (key: `${Namespace}/${PodName}`): PodSelector => (p) => podKey(p) === key;
export const and = (...sels: PodSelector[]): PodSelector => (p) => sels.every((s) => s(p));
export const or = (...sels: PodSelector[]): PodSelector => (p) => sels.some((s) => s(p));
export const not = (sel: PodSelector): PodSelector => (p) => !sel(p);

export const anyPort: PortSelector = () => true;
export const tcp = (...ports: Port[]): PortSelector => (port, proto) => proto === 'tcp' && ports.includes(port);
export const udp = (...ports: Port[]): PortSelector => (port, proto) => proto === 'udp' && ports.includes(port);
/** These ports in both protocols (Cilium's ANY). */
export const anyProto = (...ports: Port[]): PortSelector => (port) => ports.includes(port);
export const anyOf = (...sels: PortSelector[]): PortSelector => (port, proto) => sels.some((s) => s(port, proto));

/** A peer and the ports a rule allows or denies towards it. */
export interface Grant {
  peer: PodSelector;
  ports: PortSelector;
}

export function grant(peer: PodSelector, ports: PortSelector = anyPort): Grant {
  return { peer, ports };
}

/** One direction of one policy rule, as the model reads it. */
export interface DirectionRule {
  direction: 'ingress' | 'egress';
  /** The pods the rule applies to. */
  subject: PodSelector;
  /** Whether it switches its subjects to default deny in this direction. */
  defaultDeny: boolean;
  allow: Grant[];
  deny: Grant[];
}

export interface RuleBody {
  allow?: Grant[];
  deny?: Grant[];
  /** Default true: a rule with an ingress (egress) section puts the direction in default deny. */
  defaultDeny?: boolean;
}

export function ingressRule(subject: PodSelector, body: RuleBody = {}): DirectionRule {
  return { direction: 'ingress', subject, defaultDeny: body.defaultDeny ?? true, allow: body.allow ?? [], deny: body.deny ?? [] };
}

export function egressRule(subject: PodSelector, body: RuleBody = {}): DirectionRule {
  return { direction: 'egress', subject, defaultDeny: body.defaultDeny ?? true, allow: body.allow ?? [], deny: body.deny ?? [] };
}

/** `target` accepts only `allowedFrom` on `ports` (the rest of its ingress is default-denied). */
export function onlyIngressTo(target: PodSelector, allowedFrom: PodSelector, ports: PortSelector = anyPort): DirectionRule {
  return ingressRule(target, { allow: [grant(allowedFrom, ports)] });
}

/** `source` may send only to `allowedTo` on `ports`. */
export function onlyEgressFrom(source: PodSelector, allowedTo: PodSelector, ports: PortSelector = anyPort): DirectionRule {
  return egressRule(source, { allow: [grant(allowedTo, ports)] });
}

/** The verdict of one side (`self`'s rules of `direction`, towards `peer`). Rule 3. */
function sideVerdict(rules: readonly DirectionRule[], direction: DirectionRule['direction'], self: PodRef, peer: PodRef,
  port: Port, proto: Protocol): Verdict {
  const applying = rules.filter((r) => r.direction === direction && r.subject(self));
  const matches = (g: Grant) => g.peer(peer) && g.ports(port, proto);
  if (applying.some((r) => r.deny.some(matches))) return 'deny-181';
  if (!applying.some((r) => r.defaultDeny)) return 'allow';
  return applying.some((r) => r.allow.some(matches)) ? 'allow' : 'deny-133';
}

export type Expectation = (from: PodRef, to: PodRef, port: Port, proto: Protocol) => Verdict;

/** The expectation function of a set of rules (rules 1-3 above). */
export function expectationOf(rules: readonly DirectionRule[]): Expectation {
  return (from, to, port, proto) => {
    if (podKey(from) === podKey(to)) return 'allow';
    const egress = sideVerdict(rules, 'egress', from, to, port, proto);
    if (egress !== 'allow') return egress;
    return sideVerdict(rules, 'ingress', to, from, port, proto);
  };
}
