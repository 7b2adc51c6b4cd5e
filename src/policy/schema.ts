/**
 * The accepted shape of CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy
 * objects, as zod schemas. Every object is strict, so a misspelt field is an
 * error instead of a silently ignored rule. Checks that need more than one
 * field (L3 peer exclusivity, endPort >= port, CIDR except inside its CIDR,
 * an ICMP type name of the field's family, icmps without toPorts)
 * are refinements here too, so that every problem carries its exact path.
 *
 * To extend the language, add the field to the schema here and drop its name
 * from NOT_YET_SUPPORTED in errors.ts.
 */
import { z } from 'zod';
import { ValidationError } from '../common/errors.js';
import { compileHttpRules } from '../l7/http-rules.js';
import { splitSource } from '../labels/labels.js';
import { labelSelectorIssues } from '../labels/selector.js';
import { cidrContains, parseCidr } from './cidr.js';
import { ENTITIES, isEntity } from './entities.js';
import { ICMP_FAMILIES, MAX_ICMP_FIELDS, readIcmpType } from './icmp.js';
import { PORT_PROTOCOLS, readPortValue } from './ports.js';
import type { HttpRule } from './types.js';

export const labelSelectorSchema = z
  .object({
    matchLabels: z.record(z.string(), z.string()).optional(),
    matchExpressions: z
      .array(z.object({ key: z.string(), operator: z.string(), values: z.array(z.string()).optional() }).strict())
      .optional(),
  })
  .strict()
  .superRefine((sel, ctx) => {
    for (const issue of labelSelectorIssues(sel)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  });

/** method, path and host of HTTP rules: POSIX extended regular expressions, checked with the rest of the rules by httpRulesCompile. */
const regexString = z.string();

/** What the proxy itself refuses in a list of HTTP rules (header syntax, secrets, ADD/REPLACE without a value), at the field's path. */
function httpRulesCompile(rules: HttpRule[], ctx: z.RefinementCtx): void {
  try {
    compileHttpRules(rules, '');
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    // The proxy names paths like "[0].headers[1]"; zod wants them as segments.
    const segments = (err.path ?? '').split(/[.[\]]/).filter(Boolean).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
    ctx.addIssue({ code: 'custom', path: segments, message: err.message.replace(/^[^:]*: /, '') });
  }
}

const httpRuleSchema = z
  .object({
    path: regexString.optional(),
    method: regexString.optional(),
    host: regexString.optional(),
    headers: z.array(z.string()).optional(),
    headerMatches: z
      .array(z.object({
        name: z.string().min(1),
        value: z.string().optional(),
        secret: z.object({ namespace: z.string().optional(), name: z.string().min(1) }).strict().optional(),
        mismatch: z.enum(['LOG', 'ADD', 'DELETE', 'REPLACE']).optional(),
      }).strict())
      .optional(),
  })
  .strict();

const portProtocolSchema = z
  .object({
    port: z.custom<number | string>((v) => typeof v === 'number' || typeof v === 'string', {
      message: 'must be a port number (0-65535) or a port name',
    }).optional(),
    endPort: z.number().optional(),
    protocol: z.string().optional(),
  })
  .strict()
  .superRefine((pp, ctx) => {
    const port = readPortValue(pp.port);
    if ('error' in port) ctx.addIssue({ code: 'custom', path: ['port'], message: port.error });
    if (pp.protocol !== undefined && !(PORT_PROTOCOLS as readonly string[]).includes(pp.protocol)) {
      const hint = (PORT_PROTOCOLS as readonly string[]).includes(pp.protocol.toUpperCase())
        ? `; protocols are upper case: ${pp.protocol.toUpperCase()}`
        : pp.protocol.toUpperCase() === 'ICMP' ? '; ICMP is not a port protocol' : '';
      ctx.addIssue({ code: 'custom', path: ['protocol'], message: `unknown protocol ${JSON.stringify(pp.protocol)}; use one of ${PORT_PROTOCOLS.join(', ')}${hint}` });
    }
    if (pp.endPort === undefined) return;
    if (!Number.isInteger(pp.endPort) || pp.endPort < 0 || pp.endPort > 65535) {
      ctx.addIssue({ code: 'custom', path: ['endPort'], message: `${pp.endPort} is not a port; ports are whole numbers 0-65535` });
    } else if ('name' in port) {
      ctx.addIssue({ code: 'custom', path: ['endPort'], message: `a range needs a numeric port, not the named port "${port.name}"` });
    } else if ('number' in port && port.number === 0) {
      ctx.addIssue({ code: 'custom', path: ['endPort'], message: 'a range needs a start port above 0 (port 0 already means every port)' });
    } else if ('number' in port && pp.endPort < port.number) {
      ctx.addIssue({ code: 'custom', path: ['endPort'], message: `endPort ${pp.endPort} is below port ${port.number}` });
    }
  });

const portsSchema = z.array(portProtocolSchema).max(40);

const portRuleSchema = z
  .object({ ports: portsSchema.optional(), rules: z.object({ http: z.array(httpRuleSchema).superRefine(httpRulesCompile).optional() }).strict().optional() })
  .strict();

const portDenyRuleSchema = z.object({ ports: portsSchema.optional() }).strict();

export const cidrSchema = z.string().superRefine((text, ctx) => {
  if (!parseCidr(text)) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(text)} is not an IPv4 or IPv6 CIDR like 10.0.0.0/8` });
});

const cidrRuleSchema = z
  .object({
    cidr: cidrSchema.optional(),
    except: z.array(cidrSchema).optional(),
    cidrGroupRef: z.string().min(1).optional(),
    cidrGroupSelector: labelSelectorSchema.optional(),
  })
  .strict()
  .superRefine((rule, ctx) => {
    const given = (['cidr', 'cidrGroupRef', 'cidrGroupSelector'] as const).filter((k) => rule[k] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({ code: 'custom', message: given.length === 0
        ? 'needs one of cidr, cidrGroupRef or cidrGroupSelector'
        : `${given.join(' and ')} cannot be combined; give exactly one` });
    }
    if (rule.except && rule.cidr === undefined) ctx.addIssue({ code: 'custom', path: ['except'], message: 'except needs cidr' });
    const outer = rule.cidr === undefined ? undefined : parseCidr(rule.cidr);
    (rule.except ?? []).forEach((text, i) => {
      const inner = parseCidr(text);
      if (outer && inner && !cidrContains(outer, inner)) {
        ctx.addIssue({ code: 'custom', path: ['except', i], message: `${text} is not inside ${rule.cidr}` });
      }
    });
  });

const icmpFieldSchema = z
  .object({
    family: z.enum(ICMP_FAMILIES).optional(),
    type: z.custom<number | string>((v) => typeof v === 'number' || typeof v === 'string', {
      message: 'is required: an ICMP type, a number 0-255 or a name like EchoRequest',
    }),
  })
  .strict()
  .superRefine((field, ctx) => {
    const type = readIcmpType(field.type, field.family);
    if ('error' in type) ctx.addIssue({ code: 'custom', path: ['type'], message: type.error });
  });

const icmpRuleSchema = z
  .object({
    fields: z.array(icmpFieldSchema).max(MAX_ICMP_FIELDS).optional(),
  })
  .strict()
  .superRefine((rule, ctx) => {
    // Cilium would read a rule without fields as no port restriction at all; refuse it rather than allow every protocol.
    if (!rule.fields?.length) ctx.addIssue({ code: 'custom', path: ['fields'], message: 'needs at least one field like {type: EchoRequest}; to match every protocol, leave out icmps' });
  });

const entitySchema = z.string().superRefine((name, ctx) => {
  if (!isEntity(name)) ctx.addIssue({ code: 'custom', message: `unknown entity ${JSON.stringify(name)}; use one of ${ENTITIES.join(', ')}` });
});

const ingressPeerFields = {
  fromEndpoints: z.array(labelSelectorSchema).optional(),
  fromCIDR: z.array(cidrSchema).optional(),
  fromCIDRSet: z.array(cidrRuleSchema).optional(),
  fromEntities: z.array(entitySchema).optional(),
};

const serviceNamespaceSchema = z.string().superRefine((ns, ctx) => {
  if (ns.length > 63 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns)) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(ns)} is not a valid namespace: use lower-case letters, digits and '-', at most 63 characters` });
  }
});

const serviceSelectorSchema = z
  .object({
    k8sService: z.object({ serviceName: z.string().min(1), namespace: serviceNamespaceSchema.optional() }).strict().optional(),
    k8sServiceSelector: z.object({ selector: labelSelectorSchema, namespace: serviceNamespaceSchema.optional() }).strict().optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    const given = (['k8sService', 'k8sServiceSelector'] as const).filter((k) => s[k] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({ code: 'custom', message: given.length === 0 ? 'needs one of k8sService or k8sServiceSelector' : 'k8sService and k8sServiceSelector cannot be combined; give exactly one' });
    }
  });

const egressPeerFields = {
  toServices: z.array(serviceSelectorSchema).optional(),
  toEndpoints: z.array(labelSelectorSchema).optional(),
  toCIDR: z.array(cidrSchema).optional(),
  toCIDRSet: z.array(cidrRuleSchema).optional(),
  toEntities: z.array(entitySchema).optional(),
};

/**
 * The L3 peer fields are mutually exclusive within one rule, as in Cilium;
 * so are toPorts and icmps (Cilium: "the ICMPs block may only be present
 * without ToPorts").
 */
function onePeerKind(fields: readonly string[]) {
  return (rule: Record<string, unknown>, ctx: z.RefinementCtx) => {
    const given = fields.filter((f) => rule[f] !== undefined);
    if (given.length > 1) {
      ctx.addIssue({ code: 'custom', message: `${given.join(' and ')} cannot be combined in one rule; ` +
        'write one rule per kind of peer (rules in a list are ORed)' });
    }
    const nonEmpty = (v: unknown) => Array.isArray(v) && v.length > 0;
    if (nonEmpty(rule['icmps']) && nonEmpty(rule['toPorts'])) {
      ctx.addIssue({ code: 'custom', path: ['icmps'], message: 'icmps cannot be combined with toPorts in one rule; ' +
        'write a separate rule for toPorts with the same peer (rules in a list are ORed)' });
    }
  };
}

const icmps = { icmps: z.array(icmpRuleSchema).optional() };

/** Label requirements every endpoint peer must also meet; not an L3 peer of its own, so they combine with any. */
const fromRequires = { fromRequires: z.array(labelSelectorSchema).optional() };
const toRequires = { toRequires: z.array(labelSelectorSchema).optional() };

const ingressRuleSchema = z.object({ ...ingressPeerFields, ...fromRequires, toPorts: z.array(portRuleSchema).optional(), ...icmps })
  .strict().superRefine(onePeerKind(Object.keys(ingressPeerFields)));
const ingressDenyRuleSchema = z.object({ ...ingressPeerFields, ...fromRequires, toPorts: z.array(portDenyRuleSchema).optional(), ...icmps })
  .strict().superRefine(onePeerKind(Object.keys(ingressPeerFields)));
const egressRuleSchema = z.object({ ...egressPeerFields, ...toRequires, toPorts: z.array(portRuleSchema).optional(), ...icmps })
  .strict().superRefine(onePeerKind(Object.keys(egressPeerFields)));
const egressDenyRuleSchema = z.object({ ...egressPeerFields, ...toRequires, toPorts: z.array(portDenyRuleSchema).optional(), ...icmps })
  .strict().superRefine(onePeerKind(Object.keys(egressPeerFields)));

const ruleLabelSchema = z.union(
  [z.string().refine((text) => splitSource(text.split('=')[0]!, 'unspec').key !== '', {
    message: 'a label needs a key: write "source:key=value"',
  }), z.object({ key: z.string().min(1), value: z.string().optional(), source: z.string().optional() }).strict()],
  { errorMap: () => ({ message: 'must be a label: a string "source:key=value" or {key, value, source}' }) },
);

/** Printable ASCII, as Cilium's `log.value` takes it (at most MAX_LOG_VALUE characters). */
const MAX_LOG_VALUE = 32;
const logValueSchema = z.string().superRefine((value, ctx) => {
  const bad = [...value].find((c) => c < ' ' || c > '~');
  if (bad !== undefined) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(value)} has the character ${JSON.stringify(bad)}; ` +
      `a log value is printable ASCII (letters, digits, punctuation, spaces), at most ${MAX_LOG_VALUE} characters` });
  } else if (value.length > MAX_LOG_VALUE) {
    ctx.addIssue({ code: 'custom', message: `is ${value.length} characters long; a log value has at most ${MAX_LOG_VALUE} characters` });
  }
});

/** The rule's `log`: its value goes into the policy_log of the flows the rule decides. */
const ruleLogSchema = z.object({ value: logValueSchema.optional() }).strict();

export const ruleSchema = z
  .object({
    endpointSelector: labelSelectorSchema,
    description: z.string().optional(),
    log: ruleLogSchema.optional(),
    labels: z.array(ruleLabelSchema).optional(),
    enableDefaultDeny: z.object({ ingress: z.boolean().optional(), egress: z.boolean().optional() }).strict().optional(),
    ingress: z.array(ingressRuleSchema).optional(),
    ingressDeny: z.array(ingressDenyRuleSchema).optional(),
    egress: z.array(egressRuleSchema).optional(),
    egressDeny: z.array(egressDenyRuleSchema).optional(),
  })
  .strict();

const DNS_1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const metadataSchema = z
  .object({
    name: z.string().superRefine((name, ctx) => {
      if (name.length > 253 || !DNS_1123_SUBDOMAIN.test(name)) {
        ctx.addIssue({ code: 'custom', message: `${JSON.stringify(name)} is not a valid name: use lower-case letters, digits, '-' and '.', ` +
          'starting and ending with a letter or digit, at most 253 characters' });
      }
    }),
    namespace: z.string().superRefine((ns, ctx) => {
      if (ns.length > 63 || !DNS_1123_LABEL.test(ns)) {
        ctx.addIssue({ code: 'custom', message: `${JSON.stringify(ns)} is not a valid namespace: use lower-case letters, digits and '-', at most 63 characters` });
      }
    }).optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    // Present in objects exported from a cluster; accepted and ignored.
    uid: z.string().optional(),
    resourceVersion: z.string().optional(),
    generation: z.number().optional(),
    creationTimestamp: z.string().nullable().optional(),
  })
  .strict();

export const POLICY_KINDS = ['CiliumNetworkPolicy', 'CiliumClusterwideNetworkPolicy'] as const;
export const POLICY_API_VERSION = 'cilium.io/v2';

export const policyDocumentSchema = z
  .object({
    apiVersion: z.literal(POLICY_API_VERSION),
    kind: z.enum(POLICY_KINDS),
    metadata: metadataSchema,
    description: z.string().optional(),
    spec: ruleSchema.optional(),
    specs: z.array(ruleSchema).optional(),
    // Present in objects exported from a cluster; accepted and ignored.
    status: z.unknown().optional(),
  })
  .strict()
  .superRefine((doc, ctx) => {
    if (doc.spec === undefined && (doc.specs === undefined || doc.specs.length === 0)) {
      ctx.addIssue({ code: 'custom', message: 'a policy needs spec (one rule) or specs (a list of rules)' });
    }
    if (doc.kind === 'CiliumClusterwideNetworkPolicy' && doc.metadata.namespace !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['metadata', 'namespace'], message: 'a CiliumClusterwideNetworkPolicy is cluster-scoped; remove metadata.namespace' });
    }
  });

export type PolicyDocument = z.infer<typeof policyDocumentSchema>;
export type RuleDocument = z.infer<typeof ruleSchema>;
export type IngressRuleDocument = z.infer<typeof ingressRuleSchema>;
export type EgressRuleDocument = z.infer<typeof egressRuleSchema>;
export type PortRuleDocument = z.infer<typeof portRuleSchema>;
export type CidrRuleDocument = z.infer<typeof cidrRuleSchema>;
export type IcmpRuleDocument = z.infer<typeof icmpRuleSchema>;
export type LabelSelectorDocument = z.infer<typeof labelSelectorSchema>;
