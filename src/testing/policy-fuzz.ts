/**
 * A seeded, deterministic generator of policy texts for fuzz tests: valid
 * CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy and Kubernetes
 * NetworkPolicy objects built from the accepted grammar (schema.ts,
 * knpschema.ts), and mutations of them that the parser must refuse (or at
 * least must not crash on). Pure: no I/O, no clock, no Math.random, so a
 * failing case is reproduced from its seed alone.
 */
import { stringify } from 'yaml';

/** A small PRNG (mulberry32): fast, 32-bit state, good enough to spread test cases. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** `f()` called 0..max times. */
  some<T>(max: number, f: () => T, min = 0): T[] {
    return Array.from({ length: this.range(min, max) }, f);
  }
}

export type PolicyObject = Record<string, unknown>;

export interface GenerateOptions {
  /** Names to draw metadata.name from; a small pool makes imports replace each other. Default: a unique name per call. */
  names?: readonly string[] | undefined;
  /** Include L7 (`rules.http`) sections. Default true. */
  l7?: boolean;
  /** Keep policies small (few rules, short port ranges), for the agent where each one is realized in the kernel. */
  small?: boolean;
}

const CILIUM_API = 'cilium.io/v2';
const KNP_API = 'networking.k8s.io/v1';
const KINDS = ['CiliumNetworkPolicy', 'CiliumClusterwideNetworkPolicy', 'NetworkPolicy'] as const;
const ENTITIES = ['all', 'world', 'world-ipv4', 'cluster', 'host', 'remote-node', 'kube-apiserver', 'ingress', 'init', 'health', 'unmanaged', 'none'];
const CILIUM_KEYS = ['app', 'k8s:app', 'any:role', 'tier', 'k8s:io.kubernetes.pod.namespace', 'io.cilium.k8s.namespace.labels.team',
  'reserved:host', 'reserved:world', 'k8s:app.kubernetes.io/name', 'container:env', 'unspec:zone'];
const KNP_KEYS = ['app', 'role', 'tier', 'app.kubernetes.io/name', 'example.com/team'];
const VALUES = ['web', 'friend', 'stranger', 'db', 'a', 'x-1', 'prod', 'team.a'];
const PORT_NAMES = ['http', 'dns', 'metrics', 'grpc-web', 'http-8080'];
const NAMESPACES = ['default', 'team-a', 'kube-system'];

function selector(rng: Rng, keys: readonly string[]): PolicyObject {
  const sel: PolicyObject = {};
  if (rng.chance(0.6)) {
    sel['matchLabels'] = Object.fromEntries(rng.some(2, () => [rng.pick(keys), rng.pick(VALUES)]));
  }
  if (rng.chance(0.4)) {
    sel['matchExpressions'] = rng.some(2, () => {
      const operator = rng.pick(['In', 'NotIn', 'Exists', 'DoesNotExist']);
      const e: PolicyObject = { key: rng.pick(keys), operator };
      if (operator === 'In' || operator === 'NotIn') e['values'] = rng.some(3, () => rng.pick(VALUES), 1);
      return e;
    }, 1);
  }
  return sel;
}

function ipv4(rng: Rng): number {
  return rng.pick([10, 172, 192, 198, 203, 1, 8]) * 2 ** 24 + rng.int(2 ** 24);
}

function dotted(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/** An IPv4 CIDR and, sometimes, excepts inside it. */
function cidrWithExcepts(rng: Rng): { cidr: string; except: string[] } {
  const len = rng.range(8, 31);
  const addr = ipv4(rng);
  const base = Math.floor(addr / 2 ** (32 - len)) * 2 ** (32 - len);
  const except = rng.some(2, () => {
    const inner = rng.range(len + 1, 32);
    return `${dotted(base + rng.int(2 ** (32 - len)))}/${inner}`;
  });
  return { cidr: `${dotted(base)}/${len}`, except };
}

function ciliumPorts(rng: Rng, opts: GenerateOptions): PolicyObject[] {
  return rng.some(opts.small ? 2 : 4, () => {
    const pp: PolicyObject = {};
    const style = rng.int(5);
    if (style === 0) pp['port'] = rng.pick(PORT_NAMES);
    else if (style === 1) pp['port'] = String(rng.range(1, 65535));
    else if (style === 2) pp['port'] = 0;
    else if (style === 3 || style === 4) {
      const port = rng.range(1, 65000);
      pp['port'] = port;
      if (style === 4) pp['endPort'] = Math.min(65535, port + rng.int(opts.small ? 20 : 3000));
    }
    if (rng.chance(0.7)) pp['protocol'] = rng.pick(['TCP', 'UDP', 'SCTP', 'ANY']);
    return pp;
  }, 1);
}

function ciliumPeerRule(rng: Rng, dir: 'from' | 'to', deny: boolean, opts: GenerateOptions): PolicyObject {
  const rule: PolicyObject = {};
  const keys = CILIUM_KEYS;
  switch (rng.int(5)) {
    case 0: rule[`${dir}Endpoints`] = rng.some(2, () => selector(rng, keys), 1); break;
    case 1: rule[`${dir}Entities`] = rng.some(2, () => rng.pick(ENTITIES), 1); break;
    case 2: rule[`${dir}CIDR`] = rng.some(2, () => cidrWithExcepts(rng).cidr, 1); break;
    case 3: rule[`${dir}CIDRSet`] = rng.some(2, () => {
      const c = cidrWithExcepts(rng);
      return c.except.length > 0 ? c : { cidr: c.cidr };
    }, 1); break;
    default: break; // no L3 peer: ports only
  }
  if (rng.chance(0.6) || Object.keys(rule).length === 0) {
    rule['toPorts'] = rng.some(2, () => {
      const pr: PolicyObject = {};
      if (rng.chance(0.9)) pr['ports'] = ciliumPorts(rng, opts);
      if (!deny && opts.l7 !== false && rng.chance(0.15)) {
        pr['rules'] = { http: rng.some(2, () => ({ method: rng.pick(['GET', 'POST|PUT']), path: rng.pick(['/', '/api/.*', '/v[0-9]+/x']) }), 1) };
      }
      return pr;
    }, 1);
  }
  return rule;
}

function ciliumRule(rng: Rng, opts: GenerateOptions): PolicyObject {
  const rule: PolicyObject = { endpointSelector: selector(rng, CILIUM_KEYS) };
  if (rng.chance(0.2)) rule['description'] = rng.pick(['allow web', 'ünïcödé ✓', '']);
  if (rng.chance(0.15)) rule['labels'] = rng.some(2, () => (rng.chance(0.5) ? 'k8s:owner=fuzz' : { key: 'team', value: 'x', source: 'k8s' }), 1);
  if (rng.chance(0.25)) {
    const edd: PolicyObject = {};
    if (rng.chance(0.6)) edd['ingress'] = rng.chance(0.5);
    if (rng.chance(0.6)) edd['egress'] = rng.chance(0.5);
    rule['enableDefaultDeny'] = edd;
  }
  const max = opts.small ? 2 : 3;
  for (const [section, dir, deny] of [['ingress', 'from', false], ['ingressDeny', 'from', true], ['egress', 'to', false], ['egressDeny', 'to', true]] as const) {
    if (rng.chance(deny ? 0.25 : 0.5)) rule[section] = rng.some(max, () => ciliumPeerRule(rng, dir, deny, opts));
  }
  return rule;
}

function knpPorts(rng: Rng, opts: GenerateOptions): PolicyObject[] {
  return rng.some(opts.small ? 2 : 3, () => {
    const pp: PolicyObject = {};
    if (rng.chance(0.3)) pp['port'] = rng.pick(PORT_NAMES);
    else if (rng.chance(0.85)) {
      const port = rng.range(1, 65000);
      pp['port'] = port;
      if (rng.chance(0.3)) pp['endPort'] = Math.min(65535, port + rng.int(opts.small ? 20 : 3000));
    }
    if (rng.chance(0.6)) pp['protocol'] = rng.pick(['TCP', 'UDP', 'SCTP']);
    return pp;
  }, 1);
}

function knpPeer(rng: Rng): PolicyObject {
  const peer: PolicyObject = {};
  const which = rng.int(3);
  if (which !== 1) peer['podSelector'] = selector(rng, KNP_KEYS);
  if (which !== 0) peer['namespaceSelector'] = selector(rng, KNP_KEYS);
  return peer;
}

function metadata(rng: Rng, kind: string, opts: GenerateOptions): PolicyObject {
  const md: PolicyObject = { name: opts.names ? rng.pick(opts.names) : `p${rng.int(2 ** 31).toString(36)}` };
  if (kind !== 'CiliumClusterwideNetworkPolicy' && rng.chance(0.5)) md['namespace'] = rng.pick(NAMESPACES);
  if (rng.chance(0.15)) md['labels'] = { 'app.kubernetes.io/part-of': 'fuzz' };
  if (rng.chance(0.1)) md['annotations'] = { 'policy.membrane.io/audit-mode': rng.pick(['true', 'false']) };
  return md;
}

/** One valid policy object of a random kind (or of `kind`). */
export function validPolicy(rng: Rng, opts: GenerateOptions = {}, kind = rng.pick(KINDS)): PolicyObject {
  if (kind === 'NetworkPolicy') {
    const spec: PolicyObject = {};
    if (rng.chance(0.8)) spec['podSelector'] = selector(rng, KNP_KEYS);
    if (rng.chance(0.6)) spec['policyTypes'] = rng.pick([['Ingress'], ['Egress'], ['Ingress', 'Egress']]);
    for (const [dir, list] of [['ingress', 'from'], ['egress', 'to']] as const) {
      if (rng.chance(0.6)) {
        spec[dir] = rng.some(opts.small ? 2 : 3, () => {
          const r: PolicyObject = {};
          if (rng.chance(0.7)) r[list] = rng.some(2, () => knpPeer(rng), 1);
          if (rng.chance(0.5)) r['ports'] = knpPorts(rng, opts);
          return r;
        });
      }
    }
    return { apiVersion: KNP_API, kind, metadata: metadata(rng, kind, opts), spec };
  }
  const obj: PolicyObject = { apiVersion: CILIUM_API, kind, metadata: metadata(rng, kind, opts) };
  if (rng.chance(0.1)) obj['description'] = 'a fuzzed policy';
  const form = rng.int(4);
  if (form !== 1) obj['spec'] = ciliumRule(rng, opts);
  if (form === 1 || form === 2) obj['specs'] = rng.some(opts.small ? 2 : 3, () => ciliumRule(rng, opts), 1);
  if (rng.chance(0.05)) obj['status'] = { anything: [1, 'goes'] };
  return obj;
}

// ---- mutations ----------------------------------------------------------------------------------

type Path = (string | number)[];

/** Objects whose keys are data (label records, annotations) or free (status), where an extra key may be valid. */
const FREE_KEYS = new Set(['matchLabels', 'labels', 'annotations', 'status']);

interface Node {
  path: Path;
  value: unknown;
  /** Inside a record or `status`, where keys and values are less constrained. */
  free: boolean;
}

function nodes(value: unknown, path: Path = [], free = false): Node[] {
  const out: Node[] = [{ path, value, free }];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...nodes(v, [...path, i], free)));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      // metadata.labels is a record; a rule's `labels` is a list of strict objects.
      const isFree = free || (FREE_KEYS.has(k) && !(k === 'labels' && Array.isArray(v)));
      out.push(...nodes(v, [...path, k], isFree));
    }
  }
  return out;
}

function getAt(root: unknown, path: Path): unknown {
  return path.reduce<unknown>((v, k) => (v as Record<string | number, unknown>)[k], root);
}

function setAt(root: unknown, path: Path, value: unknown): void {
  const parent = getAt(root, path.slice(0, -1)) as Record<string | number, unknown>;
  Object.defineProperty(parent, path[path.length - 1]!, { value, enumerable: true, writable: true, configurable: true });
}

function deleteAt(root: unknown, path: Path): void {
  const parent = getAt(root, path.slice(0, -1)) as Record<string | number, unknown>;
  const key = path[path.length - 1]!;
  if (Array.isArray(parent)) parent.splice(key as number, 1);
  else delete parent[key];
}

const isMapping = (v: unknown): v is PolicyObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const keyOf = (path: Path) => path[path.length - 1];

export interface Mutation {
  doc: unknown;
  /** What was done, for a failing test's message. */
  what: string;
  /** The parser must refuse the result. False when the mutation may happen to produce a valid policy. */
  mustFail: boolean;
}

const UNKNOWN_FIELDS = ['foo', 'ingres', 'toport', 'Ports', 'endport', 'toFQDNs', 'fromNodes', 'ñame', '💥', 'constructor',
  'toString', 'hasOwnProperty', '__proto__', 'a.b/c', ' ', 'x'.repeat(300)];
// Valid IPv6 CIDRs are accepted (they select no traffic, with a warning), so only malformed ones are here.
const BAD_CIDRS = ['10.0.0.0/33', '256.1.1.1/8', '10.0.0/8', 'abc', '', '10.0.0.0/-1', '::1/129', '10.0.0.0/8/8', 'fd00:::/8',
  '10.0.0.0/0x8', '1.2.3.4/ 8', '010.0.0.0/8x', '١٠.0.0.0/8'];
const BAD_OPERATORS = ['in', 'Equals', '', 'NOTIN', 'Exists ', 'Gt', 'DoesNotExists'];
const WEIRD_STRINGS = ['', ' ', '\u0000', '\u202e\u202dabc', '😀'.repeat(50), '\ud800', 'a\nb: c', '"', "'", '{[', '*alias', '&a',
  '%YAML 1.2', '---', '...', '#', 'null', 'true', '0x1F', '1e309', '-0'];

function randomValueOfOtherType(rng: Rng, old: unknown): unknown {
  const candidates: unknown[] = [42, -1.5, 'x y', [], [1, 'a'], {}, { k: 1 }, null, true];
  const type = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
  const other = candidates.filter((c) => type(c) !== type(old));
  return rng.pick(other);
}

function deepJunk(rng: Rng, depth: number): unknown {
  let v: unknown = rng.pick(['leaf', 1, null]);
  for (let i = 0; i < depth; i++) v = rng.chance(0.5) ? [v] : { [rng.pick(['a', 'spec', 'ingress', 'k'])]: v };
  return v;
}

/** The paths of fields that are required in their place, present in `doc`. */
function requiredPaths(doc: PolicyObject): Path[] {
  const out: Path[] = [['apiVersion'], ['kind'], ['metadata'], ['metadata', 'name']];
  if (doc['kind'] === 'NetworkPolicy') out.push(['spec']);
  else if (doc['spec'] !== undefined && doc['specs'] === undefined) out.push(['spec']);
  for (const n of nodes(doc)) {
    const k = keyOf(n.path);
    if (n.free) continue;
    if (k === 'endpointSelector' || k === 'operator') out.push(n.path);
    if (k === 'key' && n.path.includes('matchExpressions')) out.push(n.path);
    if (k === 'cidr') out.push(n.path);
    if (k === 'values' && Array.isArray(n.value)) out.push(n.path); // In/NotIn need values
  }
  return out;
}

/** Mutations that must make the policy invalid, each with a name. */
const MUTATORS: Record<string, (rng: Rng, doc: PolicyObject) => boolean> = {
  deleteRequired(rng, doc) {
    deleteAt(doc, rng.pick(requiredPaths(doc)));
    return true;
  },
  unknownField(rng, doc) {
    const spots = nodes(doc).filter((n) => isMapping(n.value) && !n.free && !FREE_KEYS.has(String(keyOf(n.path))));
    const spot = rng.pick(spots);
    const name = rng.pick(UNKNOWN_FIELDS);
    setAt(doc, [...spot.path, name], rng.pick([1, 'x', [], {}, null, true]));
    return true;
  },
  changeType(rng, doc) {
    const spots = nodes(doc).filter((n) => n.path.length > 0 && !n.free && keyOf(n.path) !== 'port' &&
      !(keyOf(n.path) === 'status'));
    const spot = rng.pick(spots);
    setAt(doc, spot.path, randomValueOfOtherType(rng, spot.value));
    return true;
  },
  outOfRangePort(rng, doc) {
    const ports = nodes(doc).filter((n) => isMapping(n.value) && typeof keyOf(n.path) === 'number' && keyOf(n.path.slice(0, -1)) === 'ports');
    if (ports.length === 0) return false;
    const pp = rng.pick(ports).value as PolicyObject;
    const knp = doc['kind'] === 'NetworkPolicy';
    const port = pp['port'];
    if (rng.chance(0.5)) {
      pp['port'] = rng.pick([65536, -1, 1.5, 99999, '99999', '-1', 1e21, ...(knp ? [0, '80'] : [])]);
    } else {
      const start = typeof port === 'number' || (typeof port === 'string' && /^\d+$/.test(port)) ? Number(port) : undefined;
      if (start !== undefined && start > 1) pp['endPort'] = rng.pick([start - 1, 65536, -3, 2.5]);
      else if (start === undefined) pp['endPort'] = rng.pick([80, 65536]); // after a named port or no port: no range
      else pp['endPort'] = rng.pick([65536, -3]); // port 0 or 1: only a bad endPort is sure to fail
    }
    return true;
  },
  badProtocol(rng, doc) {
    const ports = nodes(doc).filter((n) => isMapping(n.value) && keyOf(n.path.slice(0, -1)) === 'ports');
    if (ports.length === 0) return false;
    (rng.pick(ports).value as PolicyObject)['protocol'] = rng.pick(['tcp', 'ICMP', 'HTTP', '', 'TCP ', ...(doc['kind'] === 'NetworkPolicy' ? ['ANY'] : [])]);
    return true;
  },
  badCidr(rng, doc) {
    const spots = nodes(doc).filter((n) => typeof n.value === 'string' &&
      n.path.some((k) => k === 'cidr' || k === 'except' || (typeof k === 'string' && /CIDR$/.test(k))));
    if (spots.length === 0) return false;
    const spot = rng.pick(spots);
    const except = spot.path.includes('except');
    setAt(doc, spot.path, except && rng.chance(0.5) ? '0.0.0.0/0' : rng.pick(BAD_CIDRS)); // an except outside its CIDR, or a bad CIDR
    return true;
  },
  badOperator(rng, doc) {
    const exprs = nodes(doc).filter((n) => isMapping(n.value) && keyOf(n.path.slice(0, -1)) === 'matchExpressions');
    if (exprs.length === 0) {
      const sels = nodes(doc).filter((n) => isMapping(n.value) && ['endpointSelector', 'podSelector', 'namespaceSelector'].includes(String(keyOf(n.path))));
      if (sels.length === 0) return false;
      (rng.pick(sels).value as PolicyObject)['matchExpressions'] = [{ key: 'app', operator: rng.pick(BAD_OPERATORS), values: ['a'] }];
      return true;
    }
    const e = rng.pick(exprs).value as PolicyObject;
    const r = rng.int(3);
    if (r === 0) e['operator'] = rng.pick(BAD_OPERATORS);
    else if (r === 1) { e['operator'] = rng.pick(['In', 'NotIn']); e['values'] = []; }
    else { e['operator'] = rng.pick(['Exists', 'DoesNotExist']); e['values'] = ['v']; }
    return true;
  },
  combinePeers(rng, doc) {
    if (doc['kind'] === 'NetworkPolicy') {
      const peers = nodes(doc).filter((n) => isMapping(n.value) && ['from', 'to'].includes(String(keyOf(n.path.slice(0, -1)))));
      if (peers.length === 0) return false;
      (rng.pick(peers).value as PolicyObject)['ipBlock'] = { cidr: '10.0.0.0/8' };
      return true;
    }
    const rules = nodes(doc).filter((n) => isMapping(n.value) && ['ingress', 'ingressDeny', 'egress', 'egressDeny'].includes(String(keyOf(n.path.slice(0, -1)))));
    if (rules.length === 0) return false;
    const spot = rng.pick(rules);
    const dir = String(keyOf(spot.path.slice(0, -1))).startsWith('ingress') ? 'from' : 'to';
    const rule = spot.value as PolicyObject;
    const add: PolicyObject = { Endpoints: [{}], Entities: ['world'], CIDR: ['10.0.0.0/8'], CIDRSet: [{ cidr: '10.0.0.0/8' }] };
    const kinds = Object.keys(add);
    const present = kinds.filter((k) => rule[`${dir}${k}`] !== undefined);
    const absent = kinds.filter((k) => rule[`${dir}${k}`] === undefined);
    const toAdd = present.length > 0 ? [rng.pick(absent)] : [absent[0]!, rng.pick(absent.slice(1))];
    for (const k of toAdd) rule[`${dir}${k}`] = add[k];
    return true;
  },
  wrongKind(rng, doc) {
    if (rng.chance(0.5)) doc['kind'] = rng.pick(['Pod', 'ciliumnetworkpolicy', 'List', '', 'NetworkPolicy ']);
    else doc['apiVersion'] = rng.pick(['cilium.io/v1', 'v1', 'networking.k8s.io/v1beta1', '', doc['kind'] === 'NetworkPolicy' ? CILIUM_API : KNP_API]);
    return true;
  },
  badName(rng, doc) {
    const md = doc['metadata'] as PolicyObject;
    if (rng.chance(0.7)) md['name'] = rng.pick(['Upper', 'a_b', '', '-a', 'x'.repeat(254), 'ä', 'a..b']);
    else if (doc['kind'] === 'CiliumClusterwideNetworkPolicy') md['namespace'] = 'default';
    else md['namespace'] = rng.pick(['Default', 'x'.repeat(64), '', 'a.b']);
    return true;
  },
  deepJunk(rng, doc) {
    const spots = nodes(doc).filter((n) => isMapping(n.value) && !n.free && !FREE_KEYS.has(String(keyOf(n.path))));
    setAt(doc, [...rng.pick(spots).path, 'junk'], deepJunk(rng, rng.range(5, 120)));
    return true;
  },
};

/** Mutations after which the policy may still be valid: the parser must only not crash. */
const MAYBE_MUTATORS: Record<string, (rng: Rng, doc: PolicyObject) => boolean> = {
  weirdString(rng, doc) {
    const spots = nodes(doc).filter((n) => typeof n.value === 'string');
    const s = rng.int(4) === 0 ? rng.pick(['é', 'a', '\u{10FFFF}']).repeat(rng.range(1000, 50_000)) : rng.pick(WEIRD_STRINGS);
    setAt(doc, rng.pick(spots).path, s);
    return true;
  },
  anyTypeChange(rng, doc) {
    const spot = rng.pick(nodes(doc).filter((n) => n.path.length > 0));
    setAt(doc, spot.path, randomValueOfOtherType(rng, spot.value));
    return true;
  },
  deleteAny(rng, doc) {
    const spots = nodes(doc).filter((n) => n.path.length > 0);
    deleteAt(doc, rng.pick(spots).path);
    return true;
  },
};

/** A mutated copy of `doc`: one mutation, or two when `stack`. */
export function mutatePolicy(rng: Rng, doc: PolicyObject): Mutation {
  const copy = structuredClone(doc);
  const maybe = rng.chance(0.2);
  const table = maybe ? MAYBE_MUTATORS : MUTATORS;
  const names = Object.keys(table);
  for (let attempt = 0; attempt < 20; attempt++) {
    const name = rng.pick(names);
    if (table[name]!(rng, copy)) return { doc: copy, what: name, mustFail: !maybe };
  }
  return mutatePolicy(rng, doc);
}

// ---- texts -------------------------------------------------------------------------------------

export type TextForm = 'yaml' | 'json' | 'json-array' | 'list' | 'yaml-flow';

/** The text of `docs` in a random form. Several documents: `---`-separated YAML, a JSON array or a `kind: List`. */
export function renderDocs(rng: Rng, docs: readonly unknown[]): { text: string; form: TextForm } {
  const forms: TextForm[] = docs.length === 1 ? ['yaml', 'json', 'yaml-flow'] : ['yaml', 'json-array', 'list'];
  const form = rng.pick(forms);
  switch (form) {
    case 'json': return { text: JSON.stringify(docs[0], null, rng.chance(0.5) ? 2 : 0), form };
    case 'json-array': return { text: JSON.stringify(docs), form };
    case 'list': return { text: stringify({ apiVersion: 'v1', kind: 'List', items: docs }, { aliasDuplicateObjects: false }), form };
    case 'yaml-flow': return { text: stringify(docs[0], { aliasDuplicateObjects: false, collectionStyle: 'flow' }), form };
    default: return { text: docs.map((d) => stringify(d, { aliasDuplicateObjects: false })).join(rng.chance(0.5) ? '---\n' : '\n---\n'), form };
  }
}

/** Breaks the syntax of a YAML/JSON text; `mustFail` when the break cannot leave valid YAML. */
export function breakSyntax(rng: Rng, text: string): { text: string; what: string; mustFail: boolean } {
  const at = rng.int(text.length + 1);
  switch (rng.int(7)) {
    case 0: return { text: `${text.slice(0, at)}\n\t- : [\n`, what: 'tab and open bracket', mustFail: true };
    case 1: return { text: `${text}\n{ unclosed: [1, 2`, what: 'unclosed flow mapping', mustFail: true };
    case 2: return { text: text.slice(0, at), what: `truncated at ${at}`, mustFail: false };
    case 3: return { text: `${text.slice(0, at)}${rng.pick([':', '"', '[', '}', '&', '*x', '!!binary', '%', '\u0000', '\t'])}${text.slice(at)}`, what: 'stray character', mustFail: false };
    case 4: return { text: `kind: A\nkind: B\n${text}`, what: 'duplicate key', mustFail: true };
    case 5: return { text: rng.pick(['[', '{a: ', '- ']).repeat(rng.chance(0.02) ? 20_000 : rng.range(50, 1500)), what: 'deep nesting', mustFail: true };
    default: return { text: `a: &a [1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n`, what: 'alias bomb', mustFail: true };
  }
}

/** One fuzz case: the text, and what the parser must do with it. */
export interface FuzzCase {
  text: string;
  /** 'valid': must parse; 'invalid': must be refused; 'either': must only not crash. */
  expect: 'valid' | 'invalid' | 'either';
  /** The documents as the parser will see them (undefined after a text-level break). */
  docs?: unknown[];
  /** For an invalid multi-document text: the index of the one invalid document, which the error path must start with. */
  badDoc?: number;
  what: string;
}

/** Draws one case: about a quarter valid texts, the rest mutated documents, duplicate names and syntax breaks. */
export function fuzzCase(rng: Rng, opts: GenerateOptions = {}): FuzzCase {
  const count = rng.chance(0.6) ? 1 : rng.range(2, 4);
  // Distinct names within one text unless a duplicate is the point.
  const names = opts.names ? [...opts.names] : undefined;
  const docs: unknown[] = Array.from({ length: count }, () => {
    const pool = names && names.length > 0 ? [names.splice(rng.int(names.length), 1)[0]!] : undefined;
    return validPolicy(rng, { ...opts, names: pool });
  });
  const r = rng.next();
  if (r < 0.25) {
    const { text, form } = renderDocs(rng, docs);
    return { text, expect: 'valid', docs, what: `valid ${form}` };
  }
  if (r < 0.3 && count > 1) {
    const j = rng.range(1, count - 1);
    const copy = structuredClone(docs[rng.int(j)]) as PolicyObject;
    docs[j] = copy;
    const { text, form } = renderDocs(rng, docs);
    return { text, expect: 'invalid', docs, badDoc: j, what: `duplicate name at [${j}] ${form}` };
  }
  if (r < 0.4) {
    const { text } = renderDocs(rng, docs);
    const broken = breakSyntax(rng, text);
    return { text: broken.text, expect: broken.mustFail ? 'invalid' : 'either', what: broken.what };
  }
  const k = rng.int(count);
  const m = mutatePolicy(rng, docs[k] as PolicyObject);
  docs[k] = m.doc;
  const { text, form } = renderDocs(rng, docs);
  return { text, expect: m.mustFail ? 'invalid' : 'either', docs, ...(m.mustFail && count > 1 ? { badDoc: k } : {}), what: `${m.what} at [${k}] ${form}` };
}
