/**
 * The datapath benchmark's namespaces without membrane: a plain veth pair
 * between two fresh namespaces (the baseline), optionally with the server's
 * side filtered by iptables (legacy or nft backend) or an nft set. Every
 * pair has namespaces of its own, so no configuration sees another's
 * rules, and `remove()` deletes them, rules and all.
 */
import { run } from '../common/exec.js';
import { uniqueName } from '../testing/names.js';
import { firewallSources, iptablesRestoreText, nftSetText } from './datapath-rules.js';

export type FirewallKind = 'iptables-legacy' | 'iptables-nft' | 'nft-set';

export interface VethPair {
  /** `ip netns` names. */
  client: string;
  server: string;
  clientNetnsPath: string;
  serverNetnsPath: string;
  clientIp: string;
  serverIp: string;
  /** Deletes both namespaces (and so the veth and any rules); tolerates their absence. */
  remove(): Promise<void>;
}

const CLIENT_IP = '10.200.0.1';
const SERVER_IP = '10.200.0.2';

/** Two namespaces joined by a veth pair (eth0 on both sides, 10.200.0.1 client, 10.200.0.2 server); no programs, no rules. */
export async function vethPair(): Promise<VethPair> {
  const client = uniqueName('bva');
  const server = uniqueName('bvb');
  const remove = async () => {
    await run('ip', ['netns', 'del', client], { allowFailure: true });
    await run('ip', ['netns', 'del', server], { allowFailure: true });
  };
  try {
    await run('ip', ['netns', 'add', client]);
    await run('ip', ['netns', 'add', server]);
    await run('ip', ['-n', client, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', server]);
    for (const [ns, ip] of [[client, CLIENT_IP], [server, SERVER_IP]] as const) {
      await run('ip', ['-n', ns, '-batch', '-'], { input: [`addr add ${ip}/24 dev eth0`, 'link set eth0 up', 'link set lo up', ''].join('\n') });
    }
  } catch (err) {
    await remove();
    throw err;
  }
  return { client, server, clientNetnsPath: `/run/netns/${client}`, serverNetnsPath: `/run/netns/${server}`, clientIp: CLIENT_IP, serverIp: SERVER_IP, remove };
}

const NFT_TABLE = 'membrane_bench';

/**
 * Loads `rules` rules of `kind` into the server's namespace (see
 * datapath-rules.ts for their text), then counts what the kernel holds and
 * throws when it is not `rules`. Returns the load time and that count.
 */
export async function loadFirewall(pair: VethPair, kind: FirewallKind, rules: number): Promise<{ loadMs: number; counted: number }> {
  const sources = firewallSources(rules, pair.clientIp);
  const inServer = (cmd: string, args: string[], input?: string) =>
    run('ip', ['netns', 'exec', pair.server, cmd, ...args], { timeoutMs: 120_000, ...(input === undefined ? {} : { input }) });
  const t = process.hrtime.bigint();
  if (kind === 'nft-set') {
    await inServer('nft', ['-f', '-'], nftSetText(NFT_TABLE, sources));
  } else {
    // -w: iptables-legacy takes one lock for every namespace of the machine.
    await inServer(kind === 'iptables-legacy' ? 'iptables-legacy-restore' : 'iptables-nft-restore', ['-w', '60'], iptablesRestoreText(sources));
  }
  const loadMs = Number(process.hrtime.bigint() - t) / 1e6;
  let counted: number;
  if (kind === 'nft-set') {
    const doc = JSON.parse((await inServer('nft', ['-j', 'list', 'set', 'ip', NFT_TABLE, 'allowed'])).stdout) as { nftables: { set?: { elem?: unknown[] } }[] };
    counted = doc.nftables.find((o) => o.set)?.set?.elem?.length ?? 0;
  } else {
    const listing = (await inServer(kind === 'iptables-legacy' ? 'iptables-legacy' : 'iptables-nft', ['-w', '60', '-S', 'INPUT'])).stdout;
    counted = listing.split('\n').filter((l) => l.startsWith('-A INPUT -s ')).length;
  }
  if (counted !== rules) throw new Error(`${kind} in ${pair.server} holds ${counted} per-source rules, not ${rules}`);
  return { loadMs, counted };
}
