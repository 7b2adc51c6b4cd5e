/**
 * A throwaway node for datapath tests with real traffic, without an agent:
 * a "node" netns holding the pods' gateway and the host ends of their
 * veths, pods as netns wired like the CNI plugin wires them, and the
 * datapath loaded with its maps pinned in a directory of its own. The
 * programs are attached by a helper process inside the node netns (tc
 * attaches in the caller's namespace); the test process works on the same
 * maps through the pins. `destroy()` removes every namespace, process and
 * pin it made.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ipBatch, run, type RunResult } from '../common/exec.js';
import { uniqueName } from '../testing/names.js';
import { BPFFS_ROOT, LxcDatapath } from './loader.js';
import { encodePolicyKey, encodePolicyValue, type PolicyMapKey } from './policymap.js';
import { DatapathState } from './state.js';

const LOADER_JS = fileURLToPath(new URL('./loader.js', import.meta.url));

export interface NetPod {
  name: string;
  ip: string;
  identity: number;
  epId: number;
  netnsPath: string;
  exec(cmd: string[], opts?: { allowFailure?: boolean; timeoutMs?: number }): Promise<RunResult>;
  /** A long-running process in the pod's netns, killed by destroy(). */
  spawn(cmd: string[]): ChildProcess;
}

export class TestNet {
  readonly pods: NetPod[] = [];
  private readonly children: ChildProcess[] = [];
  private readonly netns: string[] = [];
  private nextPod = 10;

  private constructor(
    readonly nodeNetns: string,
    readonly pinDir: string,
    readonly dp: LxcDatapath,
    readonly state: DatapathState,
    /** Pods get addresses in <subnet>.0/24; the gateway is <subnet>.1. */
    readonly subnet: string,
  ) {}

  /** `subnet`: three octets, e.g. "10.213.7". */
  static async create(subnet: string): Promise<TestNet> {
    const node = uniqueName('lbn');
    const pinDir = path.join(BPFFS_ROOT, 'membrane', node);
    await run('ip', ['netns', 'add', node]);
    let dp: LxcDatapath | undefined;
    try {
      await ipBatch([
        'link set lo up',
        'link add gw0 type veth peer name gw1',
        'link set gw0 up', 'link set gw1 up',
        `addr add ${subnet}.1/32 dev gw0`,
      ], `/run/netns/${node}`);
      await run('ip', ['netns', 'exec', node, 'sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0']);
      dp = LxcDatapath.load({ pinDir });
      const net = new TestNet(node, pinDir, dp, new DatapathState(dp), subnet);
      net.netns.push(node);
      return net;
    } catch (err) {
      dp?.close();
      await run('ip', ['netns', 'del', node], { allowFailure: true });
      rmSync(pinDir, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * Adds a pod with its endpoint and ipcache entries, attaches the
   * datapath to its veth and allows all its traffic (policy entries for
   * any peer in both directions) unless `allowAll` is false.
   */
  async addPod(name: string, identity: number, allowAll = true): Promise<NetPod> {
    const index = this.nextPod++;
    const ns = uniqueName('lbp');
    const host = uniqueName('lbh');
    const ip = `${this.subnet}.${index}`;
    const gw = `${this.subnet}.1`;
    const nsPath = `/run/netns/${ns}`;
    await run('ip', ['netns', 'add', ns]);
    this.netns.push(ns);
    // addrgenmode none: no IPv6 link-local addresses, so no IPv6 chatter among the test's flows.
    await ipBatch([`link add ${host} type veth peer name ${host}p`, `link set ${host}p netns ${ns}`,
      `link set ${host} addrgenmode none`, `link set ${host} up`,
      `route replace ${ip}/32 dev ${host} scope link`], `/run/netns/${this.nodeNetns}`);
    await ipBatch([`link set ${host}p name eth0`, 'link set eth0 addrgenmode none', 'link set lo up', `addr add ${ip}/32 dev eth0`, 'link set eth0 up',
      `route add ${gw}/32 dev eth0 scope link`, `route add default via ${gw} dev eth0`], nsPath);
    const link = async (nsName: string, dev: string) =>
      (JSON.parse((await run('ip', ['-n', nsName, '-j', 'link', 'show', 'dev', dev])).stdout) as { ifindex: number; address: string }[])[0]!;
    const h = await link(this.nodeNetns, host);
    const p = await link(ns, 'eth0');
    await this.attach(h.ifindex);
    const epId = index;
    this.state.upsertEndpoint(ip, { ifindex: h.ifindex, identity, epId, flags: 0, mac: p.address, nodeMac: h.address });
    this.state.upsertIpcache(ip, 32, identity);
    if (allowAll) {
      this.setPolicy(epId, { egress: true, identity: 0, protocol: 0, port: 0, prefixLen: 0 });
      this.setPolicy(epId, { egress: false, identity: 0, protocol: 0, port: 0, prefixLen: 0 });
    }
    const pod: NetPod = {
      name, ip, identity, epId, netnsPath: nsPath,
      exec: (cmd, opts = {}) => run('nsenter', [`--net=${nsPath}`, ...cmd], opts),
      spawn: (cmd) => {
        const c = spawn('nsenter', [`--net=${nsPath}`, ...cmd], { stdio: ['pipe', 'pipe', 'pipe'] });
        this.children.push(c);
        return c;
      },
    };
    this.pods.push(pod);
    return pod;
  }

  /** Writes an allow entry (or removes it with `remove`) in endpoint `epId`'s policy. */
  setPolicy(epId: number, key: PolicyMapKey, remove = false): void {
    if (remove) this.dp.maps.policy.delete(encodePolicyKey(epId, key));
    else this.dp.maps.policy.update(encodePolicyKey(epId, key), encodePolicyValue(key, { deny: false, proxyPort: 0, cookie: 1 }));
  }

  /** Attaches the datapath to `ifindex` of the node netns, from a helper process there sharing the pinned maps. */
  private async attach(ifindex: number): Promise<void> {
    const script = `import { LxcDatapath } from ${JSON.stringify(LOADER_JS)};
const dp = LxcDatapath.load({ pinDir: ${JSON.stringify(this.pinDir)} });
dp.attach(${ifindex});
dp.close();`;
    await run('nsenter', [`--net=/run/netns/${this.nodeNetns}`, process.execPath, '--input-type=module', '-e', script]);
  }

  async destroy(): Promise<void> {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const ns of this.netns.reverse()) await run('ip', ['netns', 'del', ns], { allowFailure: true });
    this.dp.close();
    rmSync(this.pinDir, { recursive: true, force: true });
  }
}
