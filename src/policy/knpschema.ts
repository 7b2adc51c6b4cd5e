/**
 * The accepted shape of a Kubernetes NetworkPolicy (`networking.k8s.io/v1`,
 * "KNP" below), as zod schemas. Strict like the Cilium schema, and as strict
 * as the Kubernetes API server on values: a policy membrane accepts is one
 * `kubectl apply` accepts too (label keys, port names, port numbers 1-65535,
 * `endPort` only after a numeric `port`, protocols TCP, UDP and SCTP).
 */
import { z } from 'zod';
import { cidrContains, parseCidr } from './cidr.js';
import { isPortName } from './ports.js';
import { cidrSchema, labelSelectorSchema, metadataSchema } from './schema.js';

export const KNP_KIND = 'NetworkPolicy';
export const KNP_API_VERSION = 'networking.k8s.io/v1';
export const KNP_PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;
export const KNP_POLICY_TYPES = ['Ingress', 'Egress'] as const;

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** A Kubernetes label key: `name` or `prefix/name` (a qualified name). No `k8s:`-style source prefix: sources are Cilium's. */
export function isLabelKey(key: string): boolean {
  const slash = key.lastIndexOf('/');
  const name = slash < 0 ? key : key.slice(slash + 1);
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return false;
  return name.length <= 63 && LABEL_NAME.test(name);
}

export const isLabelValue = (value: string): boolean => value === '' || (value.length <= 63 && LABEL_NAME.test(value));

const KEY_HINT = 'a label key is a name (letters, digits, "-", "_", ".", at most 63) with an optional DNS prefix and "/", like app.kubernetes.io/name';

/** A LabelSelector whose keys and values are valid Kubernetes labels. */
const k8sSelectorSchema = labelSelectorSchema.superRefine((sel, ctx) => {
  for (const [key, value] of Object.entries(sel.matchLabels ?? {})) {
    if (!isLabelKey(key)) ctx.addIssue({ code: 'custom', path: ['matchLabels', key], message: `${JSON.stringify(key)} is not a Kubernetes label key; ${KEY_HINT}` });
    else if (!isLabelValue(value)) {
      ctx.addIssue({ code: 'custom', path: ['matchLabels', key], message: `${JSON.stringify(value)} is not a label value: letters, digits, "-", "_" and ".", at most 63, starting and ending with a letter or digit` });
    }
  }
  (sel.matchExpressions ?? []).forEach((e, i) => {
    if (!isLabelKey(e.key)) ctx.addIssue({ code: 'custom', path: ['matchExpressions', i, 'key'], message: `${JSON.stringify(e.key)} is not a Kubernetes label key; ${KEY_HINT}` });
  });
});

const portSchema = z
  .object({
    protocol: z.string().optional(),
    port: z.custom<number | string>((v) => typeof v === 'number' || typeof v === 'string', {
      message: 'must be a port number (1-65535) or a port name',
    }).optional(),
    endPort: z.number().optional(),
  })
  .strict()
  .superRefine((pp, ctx) => {
    if (pp.protocol !== undefined && !(KNP_PROTOCOLS as readonly string[]).includes(pp.protocol)) {
      const upper = pp.protocol.toUpperCase();
      const hint = (KNP_PROTOCOLS as readonly string[]).includes(upper) ? `; protocols are upper case: ${upper}`
        : upper === 'ANY' ? '; leave protocol out for TCP, or write one port entry per protocol' : '';
      ctx.addIssue({ code: 'custom', path: ['protocol'], message: `unknown protocol ${JSON.stringify(pp.protocol)}; use one of ${KNP_PROTOCOLS.join(', ')} (default TCP)${hint}` });
    }
    const { port } = pp;
    if (typeof port === 'number' && (!Number.isInteger(port) || port < 1 || port > 65535)) {
      ctx.addIssue({ code: 'custom', path: ['port'], message: `${port} is not a port; ports are whole numbers 1-65535 (leave port out for every port)` });
    } else if (typeof port === 'string' && /^\d+$/.test(port)) {
      ctx.addIssue({ code: 'custom', path: ['port'], message: `${JSON.stringify(port)} is a string, which Kubernetes reads as a port name; write the number without quotes: ${port}` });
    } else if (typeof port === 'string' && !(port === port.toLowerCase() && isPortName(port))) {
      ctx.addIssue({ code: 'custom', path: ['port'], message: `${JSON.stringify(port)} is not a port name: up to 15 characters a-z, 0-9 and "-", with at least one letter, like "http-8080"` });
    }
    if (pp.endPort === undefined) return;
    if (!Number.isInteger(pp.endPort) || pp.endPort < 1 || pp.endPort > 65535) {
      ctx.addIssue({ code: 'custom', path: ['endPort'], message: `${pp.endPort} is not a port; ports are whole numbers 1-65535` });
    } else if (port === undefined) {
      ctx.addIssue({ code: 'custom', path: ['endPort'], message: 'endPort needs port: the range starts at port' });
    } else if (typeof port === 'string') {
      ctx.addIssue({ code: 'custom', path: ['endPort'], message: `a range needs a numeric port, not the named port ${JSON.stringify(port)}` });
    } else if (pp.endPort < port) {
      ctx.addIssue({ code: 'custom', path: ['endPort'], message: `endPort ${pp.endPort} is below port ${port}` });
    }
  });

const ipBlockSchema = z
  .object({ cidr: cidrSchema, except: z.array(cidrSchema).optional() })
  .strict()
  .superRefine((block, ctx) => {
    const outer = parseCidr(block.cidr);
    (block.except ?? []).forEach((text, i) => {
      const inner = parseCidr(text);
      if (outer && inner && !cidrContains(outer, inner)) ctx.addIssue({ code: 'custom', path: ['except', i], message: `${text} is not inside ${block.cidr}` });
    });
  });

const peerSchema = z
  .object({ podSelector: k8sSelectorSchema.optional(), namespaceSelector: k8sSelectorSchema.optional(), ipBlock: ipBlockSchema.optional() })
  .strict()
  .superRefine((peer, ctx) => {
    const selectors = peer.podSelector !== undefined || peer.namespaceSelector !== undefined;
    if (!selectors && peer.ipBlock === undefined) {
      ctx.addIssue({ code: 'custom', message: 'a peer needs podSelector, namespaceSelector (or both), or ipBlock; to match every peer, leave out the whole list' });
    } else if (selectors && peer.ipBlock !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['ipBlock'], message: 'ipBlock cannot be combined with podSelector or namespaceSelector; write it as a peer of its own' });
    }
  });

const ingressRuleSchema = z.object({ from: z.array(peerSchema).optional(), ports: z.array(portSchema).optional() }).strict();
const egressRuleSchema = z.object({ to: z.array(peerSchema).optional(), ports: z.array(portSchema).optional() }).strict();

const specSchema = z
  .object({
    // Optional in the API: absent is the empty selector, every pod of the namespace.
    podSelector: k8sSelectorSchema.optional(),
    policyTypes: z.array(z.enum(KNP_POLICY_TYPES)).max(2).optional(),
    ingress: z.array(ingressRuleSchema).optional(),
    egress: z.array(egressRuleSchema).optional(),
  })
  .strict();

export const knpDocumentSchema = z
  .object({
    apiVersion: z.literal(KNP_API_VERSION),
    kind: z.literal(KNP_KIND),
    metadata: metadataSchema,
    spec: specSchema,
    // Present in objects exported from a cluster; accepted and ignored.
    status: z.unknown().optional(),
  })
  .strict();

export type KnpDocument = z.infer<typeof knpDocumentSchema>;
export type KnpSpec = z.infer<typeof specSchema>;
export type KnpPeer = z.infer<typeof peerSchema>;
export type KnpPort = z.infer<typeof portSchema>;
export type KnpSelector = z.infer<typeof k8sSelectorSchema>;
