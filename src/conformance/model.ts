/**
 * The expectation model of the conformance matrix: which connections between
 * the 9 pods (namespaces x, y, z; pods a, b, c), and from them to a few
 * addresses of the lab's simulated world, a set of policies allows, and with
 * which drop reason the others are dropped. Pure.
 *
 * A case describes its policies a second time, as data this model reads:
 * per direction, the pods a rule applies to, whether it puts them in default
 * deny, what it allows and what it denies, and whether its policy is in
 * audit mode. The verdict of one connection follows the rules Kubernetes and
 * Cilium document:
 *  1. A pod talking to its own IP never leaves its network namespace
 *     (loopback): always allowed, as the Kubernetes e2e suite's
 *     `AllowLoopback` assumes.
 *  2. The source's egress is decided first (the packet leaves it first), then
 *     the destination's ingress (the world has none here); the connection
 *     passes only when both let it pass, and the verdict reported is that of
 *     the first side that drops, else of the first side that audits.
 *  3. On one side: a matching deny rule drops with 181 (POLICY_DENY), whatever
 *     allows; otherwise a side no default-deny rule applies to allows;
 *     otherwise a matching allow rule allows, and nothing matching drops with
 *     133 (POLICY_DENIED).
 *  4. Audit mode (policy.membrane.io/audit-mode): what the policies not in
 *     audit mode drop stays dropped; what only audited policies would drop
 *     (their deny rules: 181; their default deny: 133) passes with an AUDIT
 *     verdict instead.
 */
export const NAMESPACES = ['x', 'y', 'z'] as const;
export const POD_NAMES = ['a', 'b', 'c'] as const;
export const PORTS = [80, 81] as const;
export const PROTOCOLS = ['tcp', 'udp'] as const;

export type Namespace = (typeof NAMESPACES)[number];
export type PodName = (typeof POD_NAMES)[number];
export type Port = (typeof PORTS)[number];
export type Protocol = (typeof PROTOCOLS)[number];
/** `audit-*`: what a drop of that reason would have been, let through by audit mode. */
export type Verdict = 'allow' | 'deny-133' | 'deny-181' | 'audit-133' | 'audit-181';

/** Whether a packet with this verdict reaches its destination. */
export const passes = (v: Verdict): boolean => v === 'allow' || v.startsWith('audit-');

export interface PodRef {
  ns: Namespace;
  name: PodName;
}

/** Every pod of the matrix, x/a first, in the order tables print them. */
export const ALL_PODS: readonly PodRef[] = NAMESPACES.flatMap((ns) => POD_NAMES.map((name) => ({ ns, name })));

export function podKey(p: PodRef): string {
  return `${p.ns}/${p.name}`;
}

/**
 * The service account each pod runs as (the pod's serviceAccountName, label
 * `io.cilium.k8s.policy.serviceaccount`), the same in every namespace: a
 * and b share one, c names none and so runs as `default`.
 */
export const SERVICE_ACCOUNTS: Readonly<Record<PodName, string | undefined>> = { a: 'front', b: 'front', c: undefined };

/** The service account `p` runs as. */
export function serviceAccountOf(p: PodRef): string {
  return SERVICE_ACCOUNTS[p.name] ?? 'default';
}

/**
 * A container port name that only the pods of one namespace declare, for
 * named ports that resolve differently per pod: an egress rule's named port
 * means the destination's port of that name, so a source without it must
 * still reach the pods that have it.
 */
export const NAMESPACE_NAMED_PORT = { ns: 'y', name: 'web', port: 81, protocol: 'TCP' } as const;

/**
 * The world addresses the pods probe (TCP 80 only), among those the lab's
 * world answers on (lab/world.ts): two of one /24 apart, one far in it,
 * one in another /24.
 */
export const WORLD_TARGETS = ['198.51.100.10', '198.51.100.11', '198.51.100.200', '203.0.113.10'] as const;
export type WorldAddress = (typeof WORLD_TARGETS)[number];
/** The port and protocol the pods probe the world on. */
export const WORLD_PORT = 80;
/** The name the world's servers answer with (lab/world.ts WORLD_NAME). */
export const WORLD_ANSWER = 'world';

/** An address of the simulated world, outside the cluster. */
export interface WorldRef {
  world: WorldAddress;
}

/** What a connection can go to: a pod, or a world address. */
export type Peer = PodRef | WorldRef;

export const isPod = (p: Peer): p is PodRef => 'ns' in p;
export const ALL_WORLD: readonly WorldRef[] = WORLD_TARGETS.map((world) => ({ world }));

/** "x/a" for a pod, the address for the world. */
export function peerKey(p: Peer): string {
  return isPod(p) ? podKey(p) : p.world;
}

/** What a peer answers a probe with: its "ns/pod" name, or the world's. */
export function answerOf(p: Peer): string {
  return isPod(p) ? podKey(p) : WORLD_ANSWER;
}

/** Selects peers: a label selector, an entity or a CIDR, as the model sees it. Subjects of rules are always pods. */
export type PeerSelector = (p: Peer) => boolean;
/** Selects ports of one protocol. */
export type PortSelector = (port: Port, proto: Protocol) => boolean;

/** Any peer at all, the world included (entity `all`, a rule without peers). */
export const anyPeer: PeerSelector = () => true;
/** Every pod of the cluster (entity `cluster`, `namespaceSelector: {}`), not the world. */
export const anyPod: PeerSelector = (p) => isPod(p);
export const noPod: PeerSelector = () => false;
/** Pods in any of these namespaces. */
export const inNs = (...ns: Namespace[]): PeerSelector => (p) => isPod(p) && ns.includes(p.ns);
/** Pods with any of these names (label `pod=<name>`), in every namespace. */
export const named = (...names: PodName[]): PeerSelector => (p) => isPod(p) && names.includes(p.name);
/** Pods running as one of these service accounts (SERVICE_ACCOUNTS), in every namespace. */
export const withServiceAccount = (...accounts: string[]): PeerSelector => (p) => isPod(p) && accounts.includes(serviceAccountOf(p));
/** One pod, as "x/a". */
export const pod = (key: `${Namespace}/${PodName}`): PeerSelector => (p) => isPod(p) && podKey(p) === key;
export const and = (...sels: PeerSelector[]): PeerSelector => (p) => sels.every((s) => s(p));
export const or = (...sels: PeerSelector[]): PeerSelector => (p) => sels.some((s) => s(p));
/** Pods the selector does not select (a NotIn over pod labels: never the world). */
export const not = (sel: PeerSelector): PeerSelector => (p) => isPod(p) && !sel(p);
/** Every world address (entity `world`). */
export const world: PeerSelector = (p) => !isPod(p);

/** The lab's pod range: every pod's address is in it, where exactly is not known to a case. */
const POD_RANGE = '10.244.0.0/16';

function ipToInt(ip: string): number {
  return ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

/** [first, last] address of a block "a.b.c.d/n" as integers. */
function blockRange(cidr: string): [number, number] {
  const [ip, len] = cidr.split('/');
  const size = 2 ** (32 - Number(len));
  const first = Math.floor(ipToInt(ip!) / size) * size;
  return [first, first + size - 1];
}

const within = (inner: [number, number], outer: [number, number]) => inner[0] >= outer[0] && inner[1] <= outer[1];
const overlaps = (a: [number, number], b: [number, number]) => a[0] <= b[1] && b[0] <= a[1];

/** The world addresses in `block` and in none of `except` (a CiliumNetworkPolicy CIDR peer: pods never match one). */
export const cidr = (block: string, ...except: string[]): PeerSelector => (p) => {
  if (isPod(p)) return false;
  const at = ipToInt(p.world);
  const holds = (c: string) => { const [lo, hi] = blockRange(c); return at >= lo && at <= hi; };
  return holds(block) && !except.some(holds);
};

/**
 * A Kubernetes ipBlock: the world addresses of `cidr`, and pods whose IP is
 * in the block (as Kubernetes defines it). A case does not know its pods'
 * IPs, so a block must hold all of the pod range or none of it; anything
 * else is refused here rather than guessed.
 */
export const ipBlock = (block: string, ...except: string[]): PeerSelector => {
  const pods = blockRange(POD_RANGE);
  const all = within(pods, blockRange(block)) && !except.some((e) => overlaps(blockRange(e), pods));
  const none = !overlaps(pods, blockRange(block)) || except.some((e) => within(pods, blockRange(e)));
  if (!all && !none) throw new Error(`ipBlock ${block} except [${except.join(', ')}] covers part of the pod range ${POD_RANGE}: a case cannot say which pods it selects`);
  const inWorld = cidr(block, ...except);
  return (p) => (isPod(p) ? all : inWorld(p));
};

export const anyPort: PortSelector = () => true;
export const tcp = (...ports: Port[]): PortSelector => (port, proto) => proto === 'tcp' && ports.includes(port);
export const udp = (...ports: Port[]): PortSelector => (port, proto) => proto === 'udp' && ports.includes(port);
/** These ports in both protocols (Cilium's ANY). */
export const anyProto = (...ports: Port[]): PortSelector => (port) => ports.includes(port);
export const anyOf = (...sels: PortSelector[]): PortSelector => (port, proto) => sels.some((s) => s(port, proto));

/** A peer and the ports a rule allows or denies towards it. */
export interface Grant {
  peer: PeerSelector;
  ports: PortSelector;
}

export function grant(peer: PeerSelector, ports: PortSelector = anyPort): Grant {
  return { peer, ports };
}

/** One direction of one policy rule, as the model reads it. */
export interface DirectionRule {
  direction: 'ingress' | 'egress';
  /** The pods the rule applies to. */
  subject: PeerSelector;
  /** Whether it switches its subjects to default deny in this direction. */
  defaultDeny: boolean;
  allow: Grant[];
  deny: Grant[];
  /** Whether its policy is in audit mode (rule 4). */
  audit: boolean;
}

export interface RuleBody {
  allow?: Grant[];
  deny?: Grant[];
  /** Default true: a rule with an ingress (egress) section puts the direction in default deny. */
  defaultDeny?: boolean;
}

export function ingressRule(subject: PeerSelector, body: RuleBody = {}): DirectionRule {
  return { direction: 'ingress', subject, defaultDeny: body.defaultDeny ?? true, allow: body.allow ?? [], deny: body.deny ?? [], audit: false };
}

export function egressRule(subject: PeerSelector, body: RuleBody = {}): DirectionRule {
  return { direction: 'egress', subject, defaultDeny: body.defaultDeny ?? true, allow: body.allow ?? [], deny: body.deny ?? [], audit: false };
}

/** The same rule, of a policy in audit mode. */
export function audited(rule: DirectionRule): DirectionRule {
  return { ...rule, audit: true };
}

/** `target` accepts only `allowedFrom` on `ports` (the rest of its ingress is default-denied). */
export function onlyIngressTo(target: PeerSelector, allowedFrom: PeerSelector, ports: PortSelector = anyPort): DirectionRule {
  return ingressRule(target, { allow: [grant(allowedFrom, ports)] });
}

/** `source` may send only to `allowedTo` on `ports`. */
export function onlyEgressFrom(source: PeerSelector, allowedTo: PeerSelector, ports: PortSelector = anyPort): DirectionRule {
  return egressRule(source, { allow: [grant(allowedTo, ports)] });
}

/** The verdict of one side (`self`'s rules of `direction`, towards `peer`). Rules 3 and 4. */
function sideVerdict(rules: readonly DirectionRule[], direction: DirectionRule['direction'], self: PodRef, peer: Peer,
  port: Port, proto: Protocol): Verdict {
  const applying = rules.filter((r) => r.direction === direction && r.subject(self));
  const matches = (g: Grant) => g.peer(peer) && g.ports(port, proto);
  const allowed = applying.some((r) => r.allow.some(matches));
  // Rule 4: what the enforced policies drop stays dropped; only what the audited ones alone would drop passes.
  const enforced = applying.filter((r) => !r.audit);
  if (enforced.some((r) => r.deny.some(matches))) return 'deny-181';
  if (enforced.some((r) => r.defaultDeny) && !allowed) return 'deny-133';
  if (applying.some((r) => r.deny.some(matches))) return 'audit-181';
  if (applying.some((r) => r.defaultDeny) && !allowed) return 'audit-133';
  return 'allow';
}

export type Expectation = (from: PodRef, to: Peer, port: Port, proto: Protocol) => Verdict;

/** The expectation function of a set of rules (rules 1-4 above). */
export function expectationOf(rules: readonly DirectionRule[]): Expectation {
  return (from, to, port, proto) => {
    if (isPod(to) && podKey(from) === podKey(to)) return 'allow';
    const egress = sideVerdict(rules, 'egress', from, to, port, proto);
    if (!passes(egress)) return egress;
    const ingress = isPod(to) ? sideVerdict(rules, 'ingress', to, from, port, proto) : 'allow';
    if (!passes(ingress)) return ingress;
    return egress !== 'allow' ? egress : ingress;
  };
}
