/**
 * The agent's use of the policy engine (src/policy): the repository with its
 * persistence, resolution of an endpoint's labels into datapath entries, and
 * the attribution of rule cookies to policies for flows.
 */
import type { IdentityInfo } from '../identity/allocator.js';
import type { ContainerPortModel, K8sServiceModel, PolicyDeleteResponse, PolicyImportResponse, PolicyListModel, PolicyRef } from '../api/types.js';
import { parsePolicyObject, parsePolicyTextWithWarnings } from '../policy/parse.js';
import { PolicyRepository } from '../policy/repository.js';
import { referencedCidrs } from '../policy/cidrs.js';
import { explainVerdict, resolveEndpointPolicy, type ExplainedVerdict, type ResolvedPolicy } from '../policy/resolve.js';
import type { NamedPort, PeerNamedPorts } from '../policy/ports.js';
import type { PodIpsByIdentity } from '../policy/peers.js';
import { type DesiredPolicy, policyKeyString } from '../datapath/state.js';
import { EP_F_AUDIT_DENIES, EP_F_AUDIT_EGRESS, EP_F_AUDIT_INGRESS } from '../datapath/layout.js';
import type { FlowPolicy } from '../hubble/flow.js';
import { IncrementalResolver, type PassStats } from '../policy/incremental.js';
import { CIDR_GROUP_KIND, parseCidrGroupObject, type ParsedCidrGroup } from '../policy/cidrgroup.js';
import { MembraneError } from '../common/errors.js';
import type { CidrGroups, PolicyService } from '../policy/types.js';
import { LabelSet, LabelSource } from '../labels/labels.js';
import { type L7Entry, proxyEntries } from '../l7/proxy-config.js';

export type EnforcementMode = 'default' | 'always' | 'never';

export interface PersistedPolicies {
  revision: number;
  policies: { object: unknown; namespace: string }[];
  /** CiliumCIDRGroup objects; absent in state written before groups existed. */
  cidrGroups?: unknown[];
}

export interface ResolvedEndpointPolicy {
  ingressEnforcing: boolean;
  egressEnforcing: boolean;
  entries: DesiredPolicy;
  auditFlags: number;
  /** The policies that put the endpoint into default deny, per direction (for drop attribution). */
  defaultDenyBy: { ingress: PolicyRef[]; egress: PolicyRef[] };
  /** The entries redirected to the L7 proxy, with their HTTP rules: what the proxy enforces (agent/l7-proxy.ts). */
  l7: L7Entry[];
}

/** One direction's verdict for one packet, as `explain` finds it. */
export interface EndpointVerdict {
  verdict: ExplainedVerdict;
  enforcing: boolean;
  defaultDenyBy: PolicyRef[];
  /** The default deny comes only from audited policies: the datapath lets a default-denied packet pass as AUDIT. */
  auditDefaultDeny: boolean;
}

/**
 * Resolutions `explain` already made, by endpoint labels and ports, for many
 * explains in one pass: valid only while the repository, the identity list
 * and the pod IPs stay those it was filled with, so the caller makes one per
 * such pass (and per identity list) and drops it after.
 */
export type ResolutionCache = Map<string, ResolvedPolicy>;

export class PolicyEngine {
  private repo: PolicyRepository;
  /** CiliumCIDRGroups by name; a new map object on every change, which is how the selector cache sees a change. */
  private groups: Map<string, ParsedCidrGroup>;
  private groupView: CidrGroups;
  private readonly incremental: IncrementalResolver<ResolvedEndpointPolicy>;
  /** Services as policy's `toServices` sees them; a new map object on every change, as for the groups. */
  private services: Map<string, PolicyService & { digest: string }> = new Map();
  private usesServicesAt: { repo: PolicyRepository; revision: number; uses: boolean } | undefined;

  constructor(private readonly mode: EnforcementMode, snapshot: unknown, private readonly persist: (s: PersistedPolicies) => void) {
    this.repo = PolicyEngine.load(snapshot as PersistedPolicies | undefined);
    this.groups = PolicyEngine.loadGroups(snapshot as PersistedPolicies | undefined);
    this.groupView = viewOf(this.groups);
    this.incremental = new IncrementalResolver(mode, toEndpointPolicy);
  }

  private static loadGroups(saved: PersistedPolicies | undefined): Map<string, ParsedCidrGroup> {
    const groups = (saved?.cidrGroups ?? []).map((o) => parseCidrGroupObject(o));
    return new Map(groups.map((g) => [g.group.name, g]));
  }

  /** Adds or replaces CIDR groups (all given ones, already validated); persists. */
  putCidrGroups(groups: readonly ParsedCidrGroup[]): { name: string; action: 'created' | 'configured' | 'unchanged' }[] {
    const next = new Map(this.groups);
    const results = groups.map((g) => {
      const old = next.get(g.group.name);
      next.set(g.group.name, g);
      const action = !old ? 'created' as const
        : JSON.stringify(old.group.cidrs) === JSON.stringify(g.group.cidrs) && old.group.labels.canonical() === g.group.labels.canonical() ? 'unchanged' as const
          : 'configured' as const;
      return { name: g.group.name, action };
    });
    if (results.some((r) => r.action !== 'unchanged')) {
      this.groups = next;
      this.groupView = viewOf(next);
      this.save();
    }
    return results;
  }

  /** Removes a CIDR group; false when there was none. */
  deleteCidrGroup(name: string): boolean {
    if (!this.groups.has(name)) return false;
    const next = new Map(this.groups);
    next.delete(name);
    this.groups = next;
    this.groupView = viewOf(next);
    this.save();
    return true;
  }

  /** Takes the node's services for `toServices` (at start); true when what policy sees of them changed. */
  setServices(list: readonly K8sServiceModel[]): boolean {
    const next = new Map(list.map((svc) => [`${svc.namespace}/${svc.name}`, policyServiceOf(svc)]));
    const changed = next.size !== this.services.size || [...next].some(([key, v]) => this.services.get(key)?.digest !== v.digest);
    if (changed) this.services = next;
    return changed;
  }

  /**
   * One service put or (`svc` undefined) deleted. The view is a new map only
   * when what policy sees of that service changed, which is how the selector
   * cache notices; the caller regenerates only when `usesServices()`.
   */
  updateService(namespace: string, name: string, svc: K8sServiceModel | undefined): boolean {
    const key = `${namespace}/${name}`;
    const view = svc ? policyServiceOf(svc) : undefined;
    if (this.services.get(key)?.digest === view?.digest) return false;
    const next = new Map(this.services);
    if (view) next.set(key, view);
    else next.delete(key);
    this.services = next;
    return true;
  }

  /** Whether some rule has toServices (so that a change of services can change policy); cached per repository revision. */
  usesServices(): boolean {
    if (this.usesServicesAt?.repo !== this.repo || this.usesServicesAt.revision !== this.repo.revision) {
      const uses = this.repo.rules().some(({ rule }) => [...rule.egress, ...rule.egressDeny].some((r) => r.peer?.kind === 'services'));
      this.usesServicesAt = { repo: this.repo, revision: this.repo.revision, uses };
    }
    return this.usesServicesAt.uses;
  }

  private static load(saved: PersistedPolicies | undefined): PolicyRepository {
    if (!saved?.policies.length) return new PolicyRepository({ revision: saved?.revision ?? 1 });
    const parsed = saved.policies.map((p) => parsePolicyObject(p.object, p.namespace || 'default'));
    const repo = new PolicyRepository({ revision: Math.max(1, saved.revision - 1) });
    repo.import(parsed);
    return repo;
  }

  /** The repository as persisted, to go back to with restore(). */
  snapshot(): PersistedPolicies {
    return {
      revision: this.repo.revision,
      policies: this.repo.list().map((p) => ({ object: p.object, namespace: p.ref.namespace })),
      cidrGroups: [...this.groups.values()].map((g) => g.object),
    };
  }

  restore(s: PersistedPolicies): void {
    this.repo = PolicyEngine.load(s);
    this.groups = PolicyEngine.loadGroups(s);
    this.groupView = viewOf(this.groups);
    this.incremental.clear();
    this.persist(s);
  }

  get revision(): number {
    return this.repo.revision;
  }

  /** The IPv4 prefixes the policies name, each of which needs a CIDR identity. */
  referencedCidrs(): string[] {
    // Every IPv4 prefix of every CIDR group gets an identity too, whether or not a rule names the group yet.
    const fromGroups = [...this.groups.values()].flatMap((g) => g.group.cidrs).filter((c) => !c.includes(':'));
    // The backends of services without a selector, when some rule has toServices: a backend outside the cluster is reached by its CIDR identity.
    const fromServices = this.usesServices()
      ? [...this.services.values()].filter((s) => !s.selector).flatMap((s) => s.backendIps.map((ip) => `${ip}/32`))
      : [];
    return [...new Set([...referencedCidrs(this.repo), ...fromGroups, ...fromServices])];
  }

  /** The policies, then the CIDR groups (as objects without rules). */
  list(): PolicyListModel {
    const model = this.repo.toListModel();
    const groups = [...this.groups.values()].map((g) => ({ kind: CIDR_GROUP_KIND, namespace: '', name: g.group.name, revision: model.revision, object: g.object, rules: [] }));
    return { ...model, policies: [...model.policies, ...groups] };
  }

  /** Parses and imports all documents or none; persists the result. The parser's warnings (IPv6 parts) come back with it. */
  import(text: string, defaultNamespace: string): PolicyImportResponse {
    const { policies, cidrGroups, warnings } = parsePolicyTextWithWarnings(text, defaultNamespace);
    // The repository refuses before changing anything; groups cannot fail once parsed.
    const res = this.repo.import(policies);
    const groups = this.putCidrGroups(cidrGroups).map((g) => ({ ref: { kind: CIDR_GROUP_KIND, namespace: '', name: g.name }, action: g.action }));
    this.save();
    const out: PolicyImportResponse = { ...res, results: [...res.results, ...groups] };
    return warnings.length > 0 ? { ...out, warnings } : out;
  }

  delete(ref: PolicyRef | 'all'): PolicyDeleteResponse {
    if (ref !== 'all' && ref.kind === CIDR_GROUP_KIND) {
      if (!this.deleteCidrGroup(ref.name)) throw new MembraneError('ENOTFOUND', `${CIDR_GROUP_KIND} ${ref.name} not found; list policies to see their names`);
      return { revision: this.repo.revision, deleted: [ref] };
    }
    if (ref === 'all') {
      const groups = [...this.groups.keys()].map((name) => ({ kind: CIDR_GROUP_KIND, namespace: '', name }));
      for (const g of groups) this.deleteCidrGroup(g.name);
      const res = this.repo.deleteAll();
      this.save();
      return { ...res, deleted: [...res.deleted, ...groups] };
    }
    const res = this.repo.delete(ref);
    this.save();
    return res;
  }

  private save(): void {
    this.persist(this.snapshot());
  }

  /**
   * `podIps`: the IPs of the local pods of each identity, which NetworkPolicy
   * ipBlocks match (policy/peers.ts); `peerNamedPorts`: the named ports of
   * their pods, which egress named ports resolve against (policy/resolve.ts).
   */
  private resolveState(
    labels: LabelSet, identities: readonly IdentityInfo[], ports: ContainerPortModel[], podIps?: PodIpsByIdentity, peerNamedPorts?: PeerNamedPorts,
  ): ResolvedPolicy {
    const namedPorts = namedPortsOf(ports);
    return resolveEndpointPolicy({
      endpointLabels: labels,
      repository: this.repo,
      identities: identities.map((i) => ({ id: i.id, labels: i.labels })),
      enforcement: this.mode,
      namedPorts,
      ...(podIps ? { podIps } : {}),
      ...(peerNamedPorts ? { peerNamedPorts } : {}),
      cidrGroups: this.groupView,
      services: this.services,
    });
  }

  /**
   * Starts a regeneration pass over every endpoint group (see
   * policy/incremental.ts): groups whose policies and peer selections did not
   * change since the last pass keep their resolution. `peerNamedPorts`: the
   * named ports of the local pods of each identity (policy/ports.ts
   * peerNamedPortsOf), which egress named ports resolve against; without
   * them an egress named port matches nothing.
   */
  beginPass(identities: readonly IdentityInfo[], podIps: PodIpsByIdentity, peerNamedPorts?: PeerNamedPorts): void {
    this.incremental.begin(this.repo, identities, podIps, this.groupView, this.services, peerNamedPorts);
  }

  /** The policy of the endpoints with these labels and ports; `changed` is false when the last pass's still holds. */
  resolveGroup(labels: LabelSet, ports: ContainerPortModel[]): { policy: ResolvedEndpointPolicy; changed: boolean } {
    const key = `${labels.canonical()}|${JSON.stringify(ports)}`;
    const r = this.incremental.resolve(key, labels, namedPortsOf(ports));
    return { policy: r.derived, changed: r.changed };
  }

  /** Makes the next pass resolve every group again. */
  forgetResolutions(): void {
    this.incremental.clear();
  }

  endPass(): PassStats {
    return this.incremental.end();
  }

  /**
   * The verdict for one packet of an endpoint with these labels and ports
   * (egress: it sends to `peerIdentity`; else it receives from it), with the
   * rule behind it: the resolution `resolve` writes to the kernel, then the
   * datapath's lookup on it. For `policy trace`; `cache` (see
   * ResolutionCache, which then also holds for the same `peerNamedPorts`)
   * spares resolving the same endpoint again in a batch.
   */
  explain(
    labels: LabelSet, identities: readonly IdentityInfo[], ports: ContainerPortModel[],
    peerIdentity: number, egress: boolean, protocol: number, port: number, podIps?: PodIpsByIdentity, cache?: ResolutionCache,
    peerNamedPorts?: PeerNamedPorts,
  ): EndpointVerdict {
    const key = `${labels.canonical()}|${JSON.stringify(ports)}`;
    let res = cache?.get(key);
    if (!res) {
      res = this.resolveState(labels, identities, ports, podIps, peerNamedPorts);
      cache?.set(key, res);
    }
    return {
      verdict: explainVerdict(res.mapState, this.repo, peerIdentity, egress, protocol, port, egress ? res.auditDefaultDeny.egress : res.auditDefaultDeny.ingress),
      enforcing: egress ? res.egressEnforcing : res.ingressEnforcing,
      defaultDenyBy: egress ? res.defaultDenyBy.egress : res.defaultDenyBy.ingress,
      auditDefaultDeny: egress ? res.auditDefaultDeny.egress : res.auditDefaultDeny.ingress,
    };
  }

  flowPolicy(ref: PolicyRef): FlowPolicy {
    const derivedFrom = ref.kind;
    return {
      name: ref.name,
      namespace: ref.namespace,
      kind: ref.kind,
      revision: this.repo.revision,
      labels: [
        `k8s:io.cilium.k8s.policy.derived-from=${derivedFrom}`,
        `k8s:io.cilium.k8s.policy.name=${ref.name}`,
        ...(ref.namespace ? [`k8s:io.cilium.k8s.policy.namespace=${ref.namespace}`] : []),
      ],
    };
  }

  /** The policy behind a rule cookie, with the rule's path as `policy trace` prints it (`spec.ingress[0]`); empty for an unknown cookie. */
  policiesForCookie(cookie: number): FlowPolicy[] {
    const loc = this.repo.describeCookie(cookie);
    return loc ? [{ ...this.flowPolicy(loc.ref), rule: loc.path }] : [];
  }

  /** The `log.value` of the rule behind a cookie (a flow's policy_log), if it has one. */
  policyLogForCookie(cookie: number): string | undefined {
    return this.repo.describeCookie(cookie)?.log;
  }

}

function namedPortsOf(ports: readonly ContainerPortModel[]): Map<string, NamedPort> {
  const named = new Map<string, NamedPort>();
  for (const p of ports) if (p.name) named.set(p.name, { port: p.containerPort, protocol: p.protocol });
  return named;
}

/** A resolution as the agent writes it: policy-map entries and endpoint flags. */
function toEndpointPolicy(res: ResolvedPolicy): ResolvedEndpointPolicy {
  const entries: DesiredPolicy = new Map();
  const l7: L7Entry[] = proxyEntries(res.mapState);
  let auditDenies = false;
  for (const { key, entry } of res.mapState) {
    const k = { identity: key.identity, egress: key.egress, protocol: key.protocol, port: key.port, prefixLen: key.prefixLen, ...(key.audit ? { audit: true } : {}) };
    if (key.audit) auditDenies = true;
    entries.set(policyKeyString(k), { key: k, value: { deny: entry.deny, ...(entry.audit ? { audit: true } : {}), proxyPort: entry.proxyPort, cookie: entry.cookie } });
  }
  const auditFlags = (res.auditDefaultDeny.ingress ? EP_F_AUDIT_INGRESS : 0) | (res.auditDefaultDeny.egress ? EP_F_AUDIT_EGRESS : 0) |
    (auditDenies ? EP_F_AUDIT_DENIES : 0);
  return { ingressEnforcing: res.ingressEnforcing, egressEnforcing: res.egressEnforcing, entries, auditFlags, defaultDenyBy: res.defaultDenyBy, l7 };
}

function viewOf(groups: ReadonlyMap<string, ParsedCidrGroup>): CidrGroups {
  return new Map([...groups].map(([name, g]) => [name, g.group]));
}

/** What `toServices` sees of a service: selector, labels and the addresses of its serving backends. */
function policyServiceOf(svc: K8sServiceModel): PolicyService & { digest: string } {
  const backendIps = [...new Set(svc.backends.filter((b) => !b.terminating).map((b) => b.ip))].sort();
  const labels = svc.labels ?? {};
  const digest = JSON.stringify([labels, svc.selector ?? null, backendIps]);
  return {
    namespace: svc.namespace, name: svc.name, labels: LabelSet.fromRecord(labels, LabelSource.K8s),
    ...(svc.selector ? { selector: { ...svc.selector } } : {}), backendIps, digest,
  };
}
