/**
 * The baseline of the services benchmark: the nat-table rules kube-proxy's
 * iptables mode writes for ClusterIP services, as `iptables-restore` input.
 * Pure (text in, text out); the benchmark loads it into a router namespace.
 *
 * The shape follows kube-proxy's: PREROUTING and OUTPUT jump to
 * KUBE-SERVICES, which holds one rule per service port (matched one after
 * the other: the cost of a new connection grows with the list); each rule
 * jumps to the service's KUBE-SVC chain, which jumps to one KUBE-SEP chain
 * per endpoint (DNAT to it). With one endpoint per service there is no
 * `-m statistic` rule. The filter-table rules kube-proxy also writes cost the
 * same whatever the number of services, so they are left out.
 */
import { createHash } from 'node:crypto';

export interface KubeProxyService {
  namespace: string;
  name: string;
  portName: string;
  clusterIP: string;
  port: number;
  backend: { ip: string; port: number };
}

/** The pod CIDR kube-proxy is given (`--cluster-cidr`): traffic from outside it to a service gets masqueraded. */
export const CLUSTER_CIDR = '10.244.0.0/16';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(bytes: Buffer): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  return out;
}

/** A chain name as kube-proxy makes it: a prefix and 16 base32 characters of the SHA-256 of what the chain is for. */
function chainName(prefix: string, of: string): string {
  return prefix + base32(createHash('sha256').update(of).digest()).slice(0, 16);
}

function servicePortName(s: KubeProxyService): string {
  return `${s.namespace}/${s.name}:${s.portName}`;
}

export function svcChain(s: KubeProxyService): string {
  return chainName('KUBE-SVC-', `${servicePortName(s)}tcp`);
}

/** Depends on the endpoint too: a changed endpoint is a new chain (and the old one is deleted). */
export function sepChain(s: KubeProxyService): string {
  return chainName('KUBE-SEP-', `${servicePortName(s)}tcp${s.backend.ip}:${s.backend.port}`);
}

function servicesRule(s: KubeProxyService): string {
  return `-A KUBE-SERVICES -m comment --comment "${servicePortName(s)} cluster IP" -m tcp -p tcp -d ${s.clusterIP}/32 --dport ${s.port} -j ${svcChain(s)}`;
}

const NODEPORTS_RULE = '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS';

/** The chains of one service port: its KUBE-SVC chain and its endpoint's KUBE-SEP chain. */
function serviceChains(s: KubeProxyService): { declare: string[]; rules: string[] } {
  const svc = svcChain(s);
  const sep = sepChain(s);
  const spn = servicePortName(s);
  const be = `${s.backend.ip}:${s.backend.port}`;
  return {
    declare: [`:${svc} - [0:0]`, `:${sep} - [0:0]`],
    rules: [
      `-A ${svc} -m comment --comment "${spn} cluster IP" -m tcp -p tcp -d ${s.clusterIP}/32 --dport ${s.port} ! -s ${CLUSTER_CIDR} -j KUBE-MARK-MASQ`,
      `-A ${svc} -m comment --comment "${spn} -> ${be}" -j ${sep}`,
      `-A ${sep} -m comment --comment ${spn} -s ${s.backend.ip}/32 -j KUBE-MARK-MASQ`,
      `-A ${sep} -m comment --comment ${spn} -m tcp -p tcp -j DNAT --to-destination ${be}`,
    ],
  };
}

const FIXED_CHAINS = [':KUBE-SERVICES - [0:0]', ':KUBE-NODEPORTS - [0:0]', ':KUBE-POSTROUTING - [0:0]', ':KUBE-MARK-MASQ - [0:0]'];
const FIXED_RULES = [
  '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
  '-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000',
  '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
  '-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000',
];

/**
 * A chain deleted in a restore is declared first (which flushes it, and so
 * drops its jumps), as kube-proxy does: a chain still referenced cannot go.
 */
function restoreText(declare: string[], rules: string[], stale: readonly string[]): string {
  return ['*nat', ...declare, ...stale.map((c) => `:${c} - [0:0]`), ...rules, ...stale.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n');
}

/**
 * The jumps into kube-proxy's chains, which kube-proxy adds once with
 * `iptables -I` (not part of its syncs). Load before the first sync.
 */
export function kubeProxyJumps(): string {
  return ['*nat', ...FIXED_CHAINS,
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    'COMMIT', ''].join('\n');
}

/**
 * kube-proxy's full sync, for `iptables-restore --noflush`: every chain
 * declared (which flushes it) and written again, in the order of
 * `services` (the last one is matched last); chains in `stale` deleted.
 */
export function kubeProxyFullSync(services: readonly KubeProxyService[], stale: readonly string[] = []): string {
  const declare = [...FIXED_CHAINS];
  const rules = [...FIXED_RULES];
  for (const s of services) {
    const c = serviceChains(s);
    declare.push(...c.declare);
    rules.push(...c.rules);
  }
  for (const s of services) rules.push(servicesRule(s));
  rules.push(NODEPORTS_RULE);
  return restoreText(declare, rules, stale);
}

/**
 * kube-proxy's partial sync (its default since Kubernetes 1.28,
 * MinimizeIPTablesRestore): KUBE-SERVICES is written whole, since it lists
 * every service; of the per-service chains only those of `changed`; chains
 * in `stale` (a changed endpoint's old KUBE-SEP chain) deleted.
 */
export function kubeProxyPartialSync(services: readonly KubeProxyService[], changed: readonly KubeProxyService[], stale: readonly string[] = []): string {
  const declare = [':KUBE-SERVICES - [0:0]'];
  const rules: string[] = [];
  for (const s of changed) {
    const c = serviceChains(s);
    declare.push(...c.declare);
    rules.push(...c.rules);
  }
  for (const s of services) rules.push(servicesRule(s));
  rules.push(NODEPORTS_RULE);
  return restoreText(declare, rules, stale);
}

/** Rules a full sync writes for `count` services (the size of the ruleset). */
export function kubeProxyRuleCount(count: number): number {
  return FIXED_RULES.length + 3 + count * 5 + 1;
}
