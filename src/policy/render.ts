/**
 * Rules as `policy get` prints them, in the shape Cilium users know: the
 * stored, namespace-scoped form, with explicit label sources
 * (`any:org`, `k8s:io.kubernetes.pod.namespace`) and the derived labels.
 * IPv6 CIDRs and ICMPv6 fields are shown as written, though they select no traffic.
 */
import type { CidrRule, IcmpRule, PeerRule, PolicyRule, PortRule } from './types.js';
import { isEgressSection, RULE_SECTIONS } from './types.js';

function cidrToJSON(c: CidrRule): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (c.cidr !== undefined) out['cidr'] = c.cidr;
  if (c.except.length > 0) out['except'] = [...c.except];
  if (c.cidrGroupRef !== undefined) out['cidrGroupRef'] = c.cidrGroupRef;
  if (c.cidrGroupSelector !== undefined) out['cidrGroupSelector'] = c.cidrGroupSelector.toLabelSelector();
  return out;
}

function portRuleToJSON(p: PortRule): Record<string, unknown> {
  const out: Record<string, unknown> = {
    ports: p.ports.map((pp) => ({ port: String(pp.port), ...(pp.endPort !== undefined ? { endPort: pp.endPort } : {}), protocol: pp.protocol })),
  };
  if (p.rules) out['rules'] = p.rules;
  return out;
}

function icmpRuleToJSON(r: IcmpRule): Record<string, unknown> {
  return { fields: (r.asWritten ?? r.fields).map((f) => ({ family: f.family, type: f.type })) };
}

function peerRuleToJSON(r: PeerRule, direction: 'from' | 'to'): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const peer = r.peer;
  if (peer?.kind === 'endpoints') out[peer.field] = peer.selectors.map((s) => s.toLabelSelector());
  else if (peer?.kind === 'entities') out[peer.field] = [...peer.entities];
  else if (peer?.kind === 'cidr') {
    const cidrs = peer.asWritten ?? peer.cidrs;
    out[peer.field] = peer.field.endsWith('Set') ? cidrs.map(cidrToJSON) : cidrs.map((c) => c.cidr);
  } else if (peer?.kind === 'services') {
    out[peer.field] = peer.services.map((s) => {
      const ns = s.namespace !== undefined ? { namespace: s.namespace } : {};
      return s.name !== undefined ? { k8sService: { serviceName: s.name, ...ns } } : { k8sServiceSelector: { selector: s.selector!.toLabelSelector(), ...ns } };
    });
  }
  if (r.toPorts) out['toPorts'] = r.toPorts.map(portRuleToJSON);
  if (r.icmps) out['icmps'] = r.icmps.map(icmpRuleToJSON);
  if (r.requires) out[`${direction}Requires`] = r.requires.map((s) => s.toLabelSelector());
  return out;
}

/** One rule as plain JSON. */
export function ruleToJSON(rule: PolicyRule): Record<string, unknown> {
  const out: Record<string, unknown> = { endpointSelector: rule.endpointSelector.toLabelSelector() };
  for (const section of RULE_SECTIONS) {
    const direction = isEgressSection(section) ? 'to' : 'from';
    if (rule[section].length > 0) out[section] = rule[section].map((r) => peerRuleToJSON(r, direction));
  }
  if (Object.keys(rule.enableDefaultDeny).length > 0) out['enableDefaultDeny'] = { ...rule.enableDefaultDeny };
  out['labels'] = [...rule.labels].map((l) => ({ key: l.key, value: l.value, source: l.source }));
  if (rule.description !== undefined) out['description'] = rule.description;
  return out;
}
