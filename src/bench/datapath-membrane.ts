/**
 * The datapath benchmark's membrane node: a test node with a server and a
 * client pod, N − 1 peer identities seeded into its agent, and the policy
 * configurations the benchmark switches between, each checked against the
 * kernel's maps so that a configuration measures what it claims.
 *
 * Why seeded identities: an identity needs an endpoint or a CIDR here, and
 * 10,000 veths with programs would take minutes. The agent keeps an
 * identity allocation that no local endpoint references (as it would keep
 * the identity of a pod on another node) and adopts its persisted
 * allocations on a restart, so the benchmark writes N − 1 allocations of
 * pods "elsewhere in the cluster" into its state while it is stopped; the
 * selector cache then selects them like any other, and the server's policy
 * map holds one entry per identity. No packet comes from them, so they need
 * no ipcache entry.
 *
 * CIDR rules need no seeding (each prefix is an identity of its own), but
 * the agent's import of N prefixes grows as N² today (each CIDR identity is
 * matched against the rule's prefixes one by one, each parsed again:
 * policy/peers.ts cidrRuleSelects), about 90 s for 10,000 on this VM, so
 * the benchmark imports them once, on a node of their own.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { AgentClient } from '../api/client.js';
import { writeJsonState } from '../common/state.js';
import { ipcacheKey, ipcacheValue } from '../datapath/layout.js';
import { BpfMap } from '../datapath/map.js';
import { openPinnedPolicyMap } from '../datapath/policy-pin.js';
import { decodePolicyKey } from '../datapath/policymap.js';
import { LOCAL_IDENTITY_SCOPE } from '../identity/cidr.js';
import { startTestNode, type TestNode } from '../testing/agent.js';
import { addTestPod, type TestPod } from '../testing/pods.js';
import { BENCH_PORTS, cidrPolicyText, fillerAddresses, identityPolicyText, type IdentitySnapshotFile, l3l4PolicyText, peerSetLabel, withSeededPeers } from './datapath-rules.js';

const SERVER_LABELS = { app: 'bench-server' };
const CLIENT_APP = { app: 'bench-client' };
/** Entries of (TCP, 5200-5203) are a 22-bit protocol/port prefix: 8 bits of protocol, 14 of port. */
const BENCH_PORT_PREFIX_LEN = 8 + 14;
const IPCACHE_MAX_ENTRIES = 512000;

export interface MembraneNode {
  node: TestNode;
  agent: AgentClient;
  server: TestPod;
  client: TestPod;
  serverEndpointId: number;
  /** Peer identities seeded into the agent (the largest peer set minus the client). */
  seeded: number;
  /** Removes the pods, then the node (agent, netns, pins, state); idempotent. */
  remove(): Promise<void>;
}

/**
 * Starts a node (pods in `podCIDR`) with the server and client pods, the
 * client labelled into every peer set of `peerSets`, and seeds
 * max(peerSets) − 1 peer identities (none when `peerSets` is empty).
 * Cleans up after itself when a step fails.
 */
export async function startMembraneNode(opts: { podCIDR: string; peerSets: readonly number[]; log: (l: string) => void }): Promise<MembraneNode> {
  const { peerSets, log } = opts;
  const node = await startTestNode({ podCIDR: opts.podCIDR });
  const pods: TestPod[] = [];
  let removed = false;
  const remove = async () => {
    if (removed) return;
    removed = true;
    for (const p of pods.reverse()) await p.remove().catch(() => undefined);
    await node.stop();
  };
  try {
    const agent = new AgentClient(node.socket, 600_000);
    pods.push(await addTestPod(node, 'bench-server', SERVER_LABELS));
    const clientLabels: Record<string, string> = { ...CLIENT_APP };
    for (const n of peerSets) clientLabels[peerSetLabel(n)] = 'yes';
    pods.push(await addTestPod(node, 'bench-client', clientLabels));
    const [server, client] = pods as [TestPod, TestPod];
    const seeded = Math.max(1, ...peerSets) - 1;
    if (seeded > 0) {
      const endpoint = (await agent.listEndpoints()).find((e) => e.podName === 'bench-client');
      if (!endpoint) throw new Error('the client pod has no endpoint on the benchmark node');
      const t = Date.now();
      await node.killAgent('SIGTERM');
      const file = path.join(node.stateDir, 'identities.json');
      const before = JSON.parse(readFileSync(file, 'utf8')) as IdentitySnapshotFile;
      writeJsonState(file, withSeededPeers(before, endpoint.labels, seeded, peerSets));
      await node.restartAgent();
      const identities = (await agent.status()).identities;
      log(`membrane node ${node.name}: ${seeded} peer identities seeded, agent restarted in ${Date.now() - t} ms; it holds ${identities} identities`);
      if (identities < seeded + 2) throw new Error(`the restarted agent holds ${identities} identities, fewer than the ${seeded} seeded and the two pods'`);
    }
    const serverEndpoint = (await agent.listEndpoints()).find((e) => e.podName === 'bench-server');
    if (!serverEndpoint) throw new Error('the server pod has no endpoint on the benchmark node');
    return { node, agent, server, client, serverEndpointId: serverEndpoint.id, seeded, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}

/** A membrane configuration: its policies (none: no policy) and what the kernel must hold once they are in force. */
export interface MembranePolicy {
  /** The policies to import; undefined: none. */
  text: string | undefined;
  /** Server ingress entries for (TCP, 5200-5203), one per peer; undefined: not checked. */
  peerEntries?: number;
  /** /32 ipcache entries of CIDR identities. */
  cidrPrefixes?: number;
}

export function noPolicy(): MembranePolicy {
  return { text: undefined, peerEntries: 0, cidrPrefixes: 0 };
}

export function l3l4Policy(): MembranePolicy {
  return { text: l3l4PolicyText(SERVER_LABELS, CLIENT_APP), peerEntries: 1, cidrPrefixes: 0 };
}

/** The server lets in the `peers` identities labelled peers-N (the client and peers − 1 seeded ones). */
export function identityPolicy(peers: number): MembranePolicy {
  return { text: identityPolicyText(SERVER_LABELS, peers), peerEntries: peers, cidrPrefixes: 0 };
}

/** The server lets in `peers − 1` /32 prefixes and the client. */
export function cidrPolicy(peers: number): MembranePolicy {
  const prefixes = fillerAddresses(peers - 1);
  return { text: cidrPolicyText(SERVER_LABELS, CLIENT_APP, prefixes), peerEntries: peers, cidrPrefixes: peers - 1 };
}

/**
 * Replaces the node's policies with `policy`'s (all deleted, then imported;
 * the agent answers once the maps hold them). With `verify`, counts the
 * kernel's entries and throws when they are not what `policy` expects.
 * Returns the time to apply and, when verified, a line for the log.
 */
export async function applyMembranePolicy(m: MembraneNode, policy: MembranePolicy, verify: boolean): Promise<{ ms: number; check?: string }> {
  const t = process.hrtime.bigint();
  await m.agent.deleteAllPolicies();
  if (policy.text !== undefined) await m.agent.importPolicies({ text: policy.text });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (!verify) return { ms };
  const entries = countPeerEntries(m.node.bpffsDir, m.serverEndpointId);
  const cidrs = countCidrIpcacheEntries(m.node.bpffsDir);
  const agentSays = (await m.agent.getEndpoint(m.serverEndpointId)).policy.mapEntries;
  if (policy.peerEntries !== undefined && entries !== policy.peerEntries) {
    throw new Error(`the server's policy map holds ${entries} ingress entries for TCP ${BENCH_PORTS.first}-${BENCH_PORTS.last}, not ${policy.peerEntries}`);
  }
  if (policy.cidrPrefixes !== undefined && cidrs !== policy.cidrPrefixes) {
    throw new Error(`the ipcache holds ${cidrs} /32 prefixes of CIDR identities, not ${policy.cidrPrefixes}`);
  }
  return { ms, check: `server policy map: ${entries} peer entries for TCP ${BENCH_PORTS.first}-${BENCH_PORTS.last} (agent: ${agentSays} entries in all); ipcache: ${cidrs} CIDR prefixes` };
}

/** Server ingress entries of the policy map for (TCP, 5200-5203), read from the kernel. */
export function countPeerEntries(bpffsDir: string, endpointId: number): number {
  const map = openPinnedPolicyMap(bpffsDir);
  try {
    let n = 0;
    for (const raw of map.keys()) {
      const { epId, key } = decodePolicyKey(raw);
      if (epId === endpointId && !key.egress && !key.audit && key.protocol === 6 && key.port === BENCH_PORTS.first && key.prefixLen === BENCH_PORT_PREFIX_LEN) n++;
    }
    return n;
  } finally {
    map.close();
  }
}

/** /32 ipcache entries whose identity is a CIDR (node-local) identity, read from the kernel. */
export function countCidrIpcacheEntries(bpffsDir: string): number {
  const map = BpfMap.openPinned(path.join(bpffsDir, 'ipcache'), 'ipcache', ipcacheKey.size, ipcacheValue.size, IPCACHE_MAX_ENTRIES);
  try {
    let n = 0;
    for (const [k, v] of map.entries()) {
      if (ipcacheKey.decode(k).prefixlen === 32 && ipcacheValue.decode(v).identity > LOCAL_IDENTITY_SCOPE) n++;
    }
    return n;
  } finally {
    map.close();
  }
}
