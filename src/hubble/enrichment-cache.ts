/**
 * What the flow pipeline's fast path (flow-builder.ts) asked its
 * FlowContext, kept so that the flows of the same pods, identities,
 * policies and services share one immutable object each instead of a copy
 * per flow. Enrichment stays eager, as Hubble's: a flow carries what the
 * context says when its event is read, because everything kept is dropped
 * as soon as the context's `version()` changes (or, for a context without
 * one, as soon as another context object is in use).
 *
 * Every map is bounded: traffic from many outside addresses (the world)
 * must not grow the agent's memory, so a map past its bound starts over.
 */
import { intToIp4 } from '../datapath/layout.js';
import { type FlowContext, type FlowEndpoint, type FlowPolicy, type FlowService, endpointFor } from './flow.js';

/** An address the pipeline has seen: its dotted form, and its enriched endpoint for the identity it came with. */
export interface KnownAddress {
  readonly text: string;
  readonly identity: number;
  readonly endpoint: FlowEndpoint;
}

const MAX_ADDRESSES = 65_536;
const MAX_KEYS = 4_096;

export class EnrichmentCache {
  private ctx: FlowContext | undefined;
  private version = Number.NaN;
  private readonly addresses = new Map<number, KnownAddress>();
  private readonly cookies = new Map<number, FlowPolicy[]>();
  /** A cookie's policy_log (one array per cookie, shared by its flows); null: the rule has no log value. */
  private readonly logs = new Map<number, readonly string[] | null>();
  private readonly defaultDeny = new Map<number, FlowPolicy[]>();
  private readonly services = new Map<number, FlowService | null>();
  /** Dotted addresses that are no flow's side (a service's VIP); they never change meaning. */
  private readonly texts = new Map<number, string>();

  /** Binds to the context of a batch; forgets everything kept when the context's answers may have changed. */
  use(ctx: FlowContext): void {
    const version = ctx.version ? ctx.version() : Number.NaN;
    const valid = ctx.version ? version === this.version : ctx === this.ctx;
    this.ctx = ctx;
    this.version = version;
    if (valid) return;
    this.addresses.clear();
    this.cookies.clear();
    this.logs.clear();
    this.defaultDeny.clear();
    this.services.clear();
  }

  /** The side of a flow at address `ip` (host order) seen with `identity`. */
  address(ip: number, identity: number): KnownAddress {
    const known = this.addresses.get(ip);
    if (known !== undefined && known.identity === identity) return known;
    if (this.addresses.size >= MAX_ADDRESSES) this.addresses.clear();
    const text = known?.text ?? intToIp4(ip);
    const fresh: KnownAddress = { text, identity, endpoint: endpointFor(this.ctx!, text, identity) };
    this.addresses.set(ip, fresh);
    return fresh;
  }

  /** The dotted form of an address that is no flow's side. */
  text(ip: number): string {
    let t = this.texts.get(ip);
    if (t === undefined) {
      if (this.texts.size >= MAX_ADDRESSES) this.texts.clear();
      t = intToIp4(ip);
      this.texts.set(ip, t);
    }
    return t;
  }

  /** `policiesForCookie`, kept. */
  policies(cookie: number): FlowPolicy[] {
    let p = this.cookies.get(cookie);
    if (p === undefined) {
      if (this.cookies.size >= MAX_KEYS) this.cookies.clear();
      p = this.ctx!.policiesForCookie(cookie);
      this.cookies.set(cookie, p);
    }
    return p;
  }

  /** `policyLogForCookie` as a flow's policy_log (`[value]`), kept; undefined when the rule has no log value. */
  policyLog(cookie: number): readonly string[] | undefined {
    let l = this.logs.get(cookie);
    if (l === undefined) {
      if (this.logs.size >= MAX_KEYS) this.logs.clear();
      const value = this.ctx!.policyLogForCookie?.(cookie);
      l = value ? [value] : null;
      this.logs.set(cookie, l);
    }
    return l ?? undefined;
  }

  /** `defaultDenyPolicies`, kept. */
  defaultDenyPolicies(endpointId: number, ingress: boolean): FlowPolicy[] {
    const key = endpointId * 2 + (ingress ? 1 : 0);
    let p = this.defaultDeny.get(key);
    if (p === undefined) {
      if (this.defaultDeny.size >= MAX_KEYS) this.defaultDeny.clear();
      p = this.ctx!.defaultDenyPolicies(endpointId, ingress);
      this.defaultDeny.set(key, p);
    }
    return p;
  }

  /** The service of a load-balancer frontend id, as the flow names it ({name, namespace}); undefined when unknown. */
  service(id: number): FlowService | undefined {
    let s = this.services.get(id);
    if (s === undefined) {
      if (this.services.size >= MAX_KEYS) this.services.clear();
      const found = this.ctx!.serviceById?.(id);
      s = found ? { name: found.name, namespace: found.namespace } : null;
      this.services.set(id, s);
    }
    return s ?? undefined;
  }
}
