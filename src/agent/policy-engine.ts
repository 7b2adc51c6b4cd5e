/**
 * The agent's use of the policy engine (src/policy): the repository with its
 * persistence, resolution of an endpoint's labels into datapath entries, and
 * the attribution of rule cookies to policies for flows.
 */
import type { IdentityInfo } from '../identity/allocator.js';
import type { LabelSet } from '../labels/labels.js';
import type { ContainerPortModel, PolicyDeleteResponse, PolicyImportResponse, PolicyListModel, PolicyRef } from '../api/types.js';
import { parsePolicyObject, parsePolicyText } from '../policy/parse.js';
import { PolicyRepository } from '../policy/repository.js';
import { referencedCidrs } from '../policy/cidrs.js';
import { explainVerdict, resolveEndpointPolicy, type ExplainedVerdict, type ResolvedPolicy } from '../policy/resolve.js';
import type { NamedPort } from '../policy/ports.js';
import type { PodIpsByIdentity } from '../policy/peers.js';
import { type DesiredPolicy, policyKeyString } from '../datapath/state.js';
import { EP_F_AUDIT_DENIES, EP_F_AUDIT_EGRESS, EP_F_AUDIT_INGRESS } from '../datapath/layout.js';
import type { FlowPolicy } from '../hubble/flow.js';
import { IncrementalResolver, type PassStats } from '../policy/incremental.js';

export type EnforcementMode = 'default' | 'always' | 'never';

export interface PersistedPolicies {
  revision: number;
  policies: { object: unknown; namespace: string }[];
}

export interface ResolvedEndpointPolicy {
  ingressEnforcing: boolean;
  egressEnforcing: boolean;
  entries: DesiredPolicy;
  auditFlags: number;
  /** The policies that put the endpoint into default deny, per direction (for drop attribution). */
  defaultDenyBy: { ingress: PolicyRef[]; egress: PolicyRef[] };
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
  private readonly incremental: IncrementalResolver<ResolvedEndpointPolicy>;

  constructor(private readonly mode: EnforcementMode, snapshot: unknown, private readonly persist: (s: PersistedPolicies) => void) {
    this.repo = PolicyEngine.load(snapshot as PersistedPolicies | undefined);
    this.incremental = new IncrementalResolver(mode, toEndpointPolicy);
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
    return { revision: this.repo.revision, policies: this.repo.list().map((p) => ({ object: p.object, namespace: p.ref.namespace })) };
  }

  restore(s: PersistedPolicies): void {
    this.repo = PolicyEngine.load(s);
    this.incremental.clear();
    this.persist(s);
  }

  get revision(): number {
    return this.repo.revision;
  }

  /** The IPv4 prefixes the policies name, each of which needs a CIDR identity. */
  referencedCidrs(): string[] {
    return referencedCidrs(this.repo);
  }

  list(): PolicyListModel {
    return this.repo.toListModel();
  }

  /** Parses and imports all documents or none; persists the result. */
  import(text: string, defaultNamespace: string): PolicyImportResponse {
    const parsed = parsePolicyText(text, defaultNamespace);
    const res = this.repo.import(parsed);
    this.save();
    return res;
  }

  delete(ref: PolicyRef | 'all'): PolicyDeleteResponse {
    const res = ref === 'all' ? this.repo.deleteAll() : this.repo.delete(ref);
    this.save();
    return res;
  }

  private save(): void {
    this.persist(this.snapshot());
  }

  /** `podIps`: the IPs of the local pods of each identity, which NetworkPolicy ipBlocks match (policy/peers.ts). */
  private resolveState(labels: LabelSet, identities: readonly IdentityInfo[], ports: ContainerPortModel[], podIps?: PodIpsByIdentity): ResolvedPolicy {
    const namedPorts = namedPortsOf(ports);
    return resolveEndpointPolicy({
      endpointLabels: labels,
      repository: this.repo,
      identities: identities.map((i) => ({ id: i.id, labels: i.labels })),
      enforcement: this.mode,
      namedPorts,
      ...(podIps ? { podIps } : {}),
    });
  }

  resolve(labels: LabelSet, identities: readonly IdentityInfo[], ports: ContainerPortModel[], podIps?: PodIpsByIdentity): ResolvedEndpointPolicy {
    return toEndpointPolicy(this.resolveState(labels, identities, ports, podIps));
  }

  /**
   * Starts a regeneration pass over every endpoint group (see
   * policy/incremental.ts): groups whose policies and peer selections did not
   * change since the last pass keep their resolution.
   */
  beginPass(identities: readonly IdentityInfo[], podIps: PodIpsByIdentity): void {
    this.incremental.begin(this.repo, identities, podIps);
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
   * ResolutionCache) spares resolving the same endpoint again in a batch.
   */
  explain(
    labels: LabelSet, identities: readonly IdentityInfo[], ports: ContainerPortModel[],
    peerIdentity: number, egress: boolean, protocol: number, port: number, podIps?: PodIpsByIdentity, cache?: ResolutionCache,
  ): EndpointVerdict {
    const key = `${labels.canonical()}|${JSON.stringify(ports)}`;
    let res = cache?.get(key);
    if (!res) {
      res = this.resolveState(labels, identities, ports, podIps);
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

  policiesForCookie(cookie: number): FlowPolicy[] {
    const loc = this.repo.describeCookie(cookie);
    return loc ? [this.flowPolicy(loc.ref)] : [];
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
  let auditDenies = false;
  for (const { key, entry } of res.mapState) {
    const k = { identity: key.identity, egress: key.egress, protocol: key.protocol, port: key.port, prefixLen: key.prefixLen, ...(key.audit ? { audit: true } : {}) };
    if (key.audit) auditDenies = true;
    entries.set(policyKeyString(k), { key: k, value: { deny: entry.deny, ...(entry.audit ? { audit: true } : {}), proxyPort: entry.proxyPort, cookie: entry.cookie } });
  }
  const auditFlags = (res.auditDefaultDeny.ingress ? EP_F_AUDIT_INGRESS : 0) | (res.auditDefaultDeny.egress ? EP_F_AUDIT_EGRESS : 0) |
    (auditDenies ? EP_F_AUDIT_DENIES : 0);
  return { ingressEnforcing: res.ingressEnforcing, egressEnforcing: res.egressEnforcing, entries, auditFlags, defaultDenyBy: res.defaultDenyBy };
}
