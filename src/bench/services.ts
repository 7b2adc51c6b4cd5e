/**
 * Services benchmark: what a ClusterIP service costs per new connection
 * (TCP_CRR-like) and per request (TCP_RR-like) when the node holds 1, 1,000
 * or 10,000 services, for membrane's eBPF load balancer and for a
 * kube-proxy-style iptables baseline, measured in the same run; and what
 * applying one changed service costs at each size.
 *
 * membrane: one test node per size (agent, a server and a client pod through
 * the CNI plugin); the measured service's backend is the server pod, the
 * other N-1 services each have a backend of their own that never answers.
 * Reference: the server pod's own IP from the same client, on the same node.
 *
 * iptables: client netns - veth - router netns - veth - server netns, the
 * router holding kube-proxy's nat rules (kube-proxy.ts) with the measured
 * service last in KUBE-SERVICES (a new connection walks the whole list),
 * once with iptables-nft and once with iptables-legacy. Reference: the same
 * topology without any rule (plain routing, no NAT, no conntrack).
 *
 * Client and server are pinned to CPU 0, configurations interleaved, as in
 * datapath.ts. Every namespace, node and process is removed on the way out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { AgentClient } from '../api/client.js';
import type { K8sServiceModel } from '../api/types.js';
import { run } from '../common/exec.js';
import { ip4ToInt } from '../datapath/layout.js';
import { frontendKey } from '../service/frontends.js';
import { FileServiceStore } from '../service/store.js';
import { startTestNode, type TestNode } from '../testing/agent.js';
import { uniqueName } from '../testing/names.js';
import { addTestPod, type TestPod } from '../testing/pods.js';
import { buildPp, median } from './datapath.js';
import { type KubeProxyService, kubeProxyFullSync, kubeProxyJumps, kubeProxyPartialSync, kubeProxyRuleCount, sepChain } from './kube-proxy.js';

/** The measured service's VIP and port; the server listens on SERVER_PORT (the target port). */
export const TARGET_VIP = '10.96.0.100';
export const SERVICE_PORT = 80;
const SERVER_PORT = 5201;
/**
 * A change moves the measured service's backend to this address and back,
 * as when its pod is replaced (nobody has it: changes are timed after the traffic).
 */
const MOVED_BACKEND_IP = '10.246.0.1';
const LB_MAPS = ['lb_services', 'lb_backends', 'lb_rev_nat', 'lb_affinity', 'lb_maglev'];

function intToIp4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** The VIP of filler service `i` (1-based): 10.96.1.0 + i, inside 10.96.0.0/12 and apart from TARGET_VIP. */
export function fillerVip(i: number): string {
  if (!Number.isInteger(i) || i < 1 || i > 0xeff00) throw new RangeError(`filler service index ${i} is out of range 1..${0xeff00}`);
  return intToIp4(ip4ToInt('10.96.1.0') + i);
}

/** The backend of filler service `i`: 10.245.0.0 + i, an address nobody has (no packet is sent to it). */
export function fillerBackendIp(i: number): string {
  return intToIp4(ip4ToInt('10.245.0.0') + i);
}

/** Filler service `i` as the agent receives it: one TCP port, one backend. */
export function fillerService(i: number): K8sServiceModel {
  return {
    namespace: 'default', name: `filler-${i}`, type: 'ClusterIP', clusterIP: fillerVip(i),
    ports: [{ name: 'http', port: SERVICE_PORT, protocol: 'TCP' }],
    backends: [{ ip: fillerBackendIp(i), ports: { http: 8080 } }],
  };
}

/** The measured service, backed by `ip:port`. */
export function targetService(ip: string, port: number): K8sServiceModel {
  return {
    namespace: 'default', name: 'bench-target', type: 'ClusterIP', clusterIP: TARGET_VIP,
    ports: [{ name: 'http', port: SERVICE_PORT, protocol: 'TCP' }],
    backends: [{ ip, ports: { http: port } }],
  };
}

/** The same services as kube-proxy sees them: `total - 1` fillers, then the measured one (last in KUBE-SERVICES). */
export function kubeProxyServices(total: number, target: { ip: string; port: number }): KubeProxyService[] {
  const out: KubeProxyService[] = [];
  for (let i = 1; i < total; i++) {
    out.push({ namespace: 'default', name: `filler-${i}`, portName: 'http', clusterIP: fillerVip(i), port: SERVICE_PORT, backend: { ip: fillerBackendIp(i), port: 8080 } });
  }
  out.push({ namespace: 'default', name: 'bench-target', portName: 'http', clusterIP: TARGET_VIP, port: SERVICE_PORT, backend: target });
  return out;
}

// ---- measuring ----

interface Target {
  clientNetns: string;
  ip: string;
  port: number;
}

async function measure(t: Target, mode: 'rr' | 'crr', secs: number): Promise<number> {
  const res = await run('nsenter', [`--net=${t.clientNetns}`, 'taskset', '-c', '0', buildPp(), mode, t.ip, String(t.port), String(secs)], { timeoutMs: (secs + 20) * 1000 });
  const m = /= (\d+) (trans|conn)\/s/.exec(res.stdout);
  if (!m) throw new Error(`pp ${mode} to ${t.ip}:${t.port} printed no rate: ${res.stdout} ${res.stderr}`);
  return Number(m[1]);
}

function startServer(serverNetns: string): ChildProcess {
  return spawn('nsenter', [`--net=${serverNetns}`, 'taskset', '-c', '0', buildPp(), 'server', '0.0.0.0', String(SERVER_PORT)], { stdio: 'ignore' });
}

async function timedMs(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

type Cleanup = () => Promise<void>;

// ---- membrane ----

interface MembraneSetup {
  services: number;
  node: TestNode;
  agent: AgentClient;
  client: TestPod;
  server: TestPod;
  /** Time for the agent to start with the N-1 persisted services and write them to the LB maps. */
  adoptMs: number;
}

/**
 * Where the agent keeps its services (`<state dir>/services`, FileServiceStore).
 * The fillers are written there while the agent is stopped, and the restarted
 * agent adopts them in one pass: putting 10,000 services one by one through
 * the API costs time quadratic in their number today (each PUT lists every
 * service again), far beyond this benchmark's budget. The measured service
 * goes through the API.
 */
function seedServices(stateDir: string, count: number): void {
  const store = new FileServiceStore(path.join(stateDir, 'services'));
  store.load();
  for (let i = 1; i <= count; i++) {
    const svc = fillerService(i);
    store.save({ service: svc, frontendIds: { [frontendKey(svc.clusterIP, SERVICE_PORT, 'TCP')]: i } }, count);
  }
}

async function membraneSetup(services: number, cleanups: Cleanup[], log: (l: string) => void): Promise<MembraneSetup> {
  const node = await startTestNode({ podCIDR: '10.244.21.0/24' });
  cleanups.push(() => node.stop());
  const agent = new AgentClient(node.socket, 600_000);
  let adoptMs = 0;
  if (services > 1) {
    await node.killAgent('SIGTERM');
    const t = Date.now();
    seedServices(node.stateDir, services - 1);
    log(`membrane ${services}: ${services - 1} services persisted in ${Date.now() - t} ms`);
    adoptMs = await timedMs(() => node.restartAgent());
  }
  const pods: TestPod[] = [];
  cleanups.push(async () => { for (const p of pods.reverse()) await p.remove(); });
  const server = await addTestPod(node, 'bench-server', { app: 'bench-server' });
  pods.push(server);
  const client = await addTestPod(node, 'bench-client', { app: 'bench-client' });
  pods.push(client);
  await agent.putService(targetService(server.ip, SERVER_PORT));
  const frontends = (await agent.listServices()).length;
  if (frontends !== services) throw new Error(`membrane node for ${services} services holds ${frontends} frontends`);
  log(`membrane ${services}: node ${node.name} ready (agent restart with the persisted services: ${Math.round(adoptMs)} ms)`);
  return { services, node, agent, client, server, adoptMs };
}

/** Bytes the kernel charges for each LB map (bpftool's memlock; counted per element for the maps that are not preallocated). */
async function lbMapBytes(bpffsDir: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const m of LB_MAPS) {
    const res = await run('bpftool', ['-j', 'map', 'show', 'pinned', path.join(bpffsDir, m)]);
    out[m] = Number((JSON.parse(res.stdout) as { bytes_memlock?: number }).bytes_memlock ?? 0);
  }
  return out;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

// ---- iptables ----

export type IptablesBackend = 'nft' | 'legacy';

interface Router {
  label: string;
  backend: IptablesBackend | undefined;
  services: number;
  client: string;
  router: string;
  server: string;
  /** The measured service's backend address right now (it moves when a change is timed). */
  targetIp: string;
  /** Initial full sync (all rules loaded at once), ms. */
  loadMs: number;
}

const ROUTED = { clientIp: '10.244.1.2', clientGw: '10.244.1.1', serverIp: '10.244.2.2', serverGw: '10.244.2.1' };

function restoreCommand(backend: IptablesBackend): string {
  return backend === 'nft' ? 'iptables-nft-restore' : 'iptables-legacy-restore';
}

async function restore(r: Router, text: string): Promise<number> {
  const cmd = restoreCommand(r.backend!);
  // -w: iptables-legacy shares one lock between all namespaces of the machine.
  return timedMs(() => run('ip', ['netns', 'exec', r.router, cmd, '-w', '60', '--noflush'], { input: text, timeoutMs: 600_000 }));
}

/** client - router - server, with kube-proxy's rules for `services` services in the router (none: plain routing). */
async function routerSetup(backend: IptablesBackend | undefined, services: number, cleanups: Cleanup[]): Promise<Router> {
  const r: Router = {
    label: backend ? `iptables-${backend}` : 'no NAT', backend, services,
    client: uniqueName('bkc'), router: uniqueName('bkr'), server: uniqueName('bks'), targetIp: ROUTED.serverIp, loadMs: 0,
  };
  for (const ns of [r.client, r.router, r.server]) {
    await run('ip', ['netns', 'add', ns]);
    cleanups.push(async () => { await run('ip', ['netns', 'del', ns], { allowFailure: true }); });
  }
  await run('ip', ['-n', r.router, '-batch', '-'], {
    input: [
      `link add c0 type veth peer name eth0 netns ${r.client}`,
      `link add s0 type veth peer name eth0 netns ${r.server}`,
      `addr add ${ROUTED.clientGw}/24 dev c0`, `addr add ${ROUTED.serverGw}/24 dev s0`,
      'link set c0 up', 'link set s0 up', 'link set lo up', '',
    ].join('\n'),
  });
  for (const [ns, ip, gw] of [[r.client, ROUTED.clientIp, ROUTED.clientGw], [r.server, ROUTED.serverIp, ROUTED.serverGw]] as const) {
    await run('ip', ['-n', ns, '-batch', '-'], { input: [`addr add ${ip}/24 dev eth0`, 'link set eth0 up', 'link set lo up', `route add default via ${gw}`, ''].join('\n') });
  }
  await run('ip', ['netns', 'exec', r.router, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  if (backend) {
    await restore(r, kubeProxyJumps());
    r.loadMs = await restore(r, kubeProxyFullSync(kubeProxyServices(services, { ip: ROUTED.serverIp, port: SERVER_PORT })));
  }
  return r;
}

/** Moves the measured service's backend to the other address, as kube-proxy's partial or full sync would write it. */
async function iptablesChange(r: Router, sync: 'partial' | 'full'): Promise<number> {
  const before = kubeProxyServices(r.services, { ip: r.targetIp, port: SERVER_PORT });
  const nextIp = r.targetIp === ROUTED.serverIp ? MOVED_BACKEND_IP : ROUTED.serverIp;
  const after = kubeProxyServices(r.services, { ip: nextIp, port: SERVER_PORT });
  const stale = [sepChain(before[before.length - 1]!)];
  const text = sync === 'full' ? kubeProxyFullSync(after, stale) : kubeProxyPartialSync(after, [after[after.length - 1]!], stale);
  const ms = await restore(r, text);
  r.targetIp = nextIp;
  return ms;
}

// ---- the benchmark ----

export interface Rates {
  rr: number[];
  crr: number[];
}

export interface ServicesBenchRow {
  services: number;
  membraneDirect: Rates;
  membraneVip: Rates;
  iptables: Record<IptablesBackend, Rates>;
  /** One service changed (PUT of the measured service with its backend at another address), ms. */
  membraneChangeMs: number[];
  iptablesChangeMs: Record<IptablesBackend, { partial: number[]; full: number[] }>;
  /** Initial load of all rules (one full sync), ms. */
  iptablesLoadMs: Record<IptablesBackend, number>;
  iptablesRules: number;
  membraneAdoptMs: number;
  /** By map name. */
  lbMapBytes: Record<string, number>;
  agentRssMb: number;
}

export interface ServicesBenchResult {
  rows: ServicesBenchRow[];
  /** The iptables topology without any rule. */
  noNat: Rates;
  iptablesVersion: string;
}

export interface ServicesBenchOptions {
  serviceCounts: number[];
  reps: number;
  secs: number;
  /** Repetitions of each timed change. */
  changeReps: number;
  log: (line: string) => void;
}

const BACKENDS: IptablesBackend[] = ['nft', 'legacy'];
const emptyRates = (): Rates => ({ rr: [], crr: [] });

export async function benchServices(opts: ServicesBenchOptions): Promise<ServicesBenchResult> {
  buildPp();
  const cleanups: Cleanup[] = [];
  const servers: ChildProcess[] = [];
  try {
    const iptablesVersion = (await run('iptables', ['-V'])).stdout.trim();
    const noNat = await routerSetup(undefined, 0, cleanups);
    servers.push(startServer(`/run/netns/${noNat.server}`));
    const result: ServicesBenchResult = { rows: [], noNat: emptyRates(), iptablesVersion };
    const configs: { name: string; target: Target; rates: Rates }[] = [
      { name: 'plain routing, no NAT', target: { clientNetns: `/run/netns/${noNat.client}`, ip: ROUTED.serverIp, port: SERVER_PORT }, rates: result.noNat },
    ];
    const membranes: MembraneSetup[] = [];
    const routers = new Map<string, Router>();
    for (const services of opts.serviceCounts) {
      const m = await membraneSetup(services, cleanups, opts.log);
      membranes.push(m);
      servers.push(startServer(m.server.netnsPath));
      const row: ServicesBenchRow = {
        services, membraneDirect: emptyRates(), membraneVip: emptyRates(), iptables: { nft: emptyRates(), legacy: emptyRates() },
        membraneChangeMs: [], iptablesChangeMs: { nft: { partial: [], full: [] }, legacy: { partial: [], full: [] } },
        iptablesLoadMs: { nft: 0, legacy: 0 }, iptablesRules: kubeProxyRuleCount(services), membraneAdoptMs: m.adoptMs,
        lbMapBytes: await lbMapBytes(m.node.bpffsDir), agentRssMb: rssMb(m.node.agentPid),
      };
      result.rows.push(row);
      configs.push(
        { name: `membrane, ${plural(services)}: direct pod IP`, target: { clientNetns: m.client.netnsPath, ip: m.server.ip, port: SERVER_PORT }, rates: row.membraneDirect },
        { name: `membrane, ${plural(services)}: ClusterIP`, target: { clientNetns: m.client.netnsPath, ip: TARGET_VIP, port: SERVICE_PORT }, rates: row.membraneVip },
      );
      for (const backend of BACKENDS) {
        const r = await routerSetup(backend, services, cleanups);
        routers.set(`${backend}/${services}`, r);
        row.iptablesLoadMs[backend] = r.loadMs;
        opts.log(`iptables-${backend} ${services}: ${row.iptablesRules} nat rules loaded in ${Math.round(r.loadMs)} ms`);
        servers.push(startServer(`/run/netns/${r.server}`));
        configs.push({ name: `iptables-${backend}, ${plural(services)}: ClusterIP`, target: { clientNetns: `/run/netns/${r.client}`, ip: TARGET_VIP, port: SERVICE_PORT }, rates: row.iptables[backend] });
      }
    }
    await new Promise((r) => setTimeout(r, 500));

    for (let rep = 0; rep < opts.reps; rep++) {
      for (const c of configs) {
        for (const mode of ['rr', 'crr'] as const) {
          const rate = await measure(c.target, mode, opts.secs);
          c.rates[mode].push(rate);
          opts.log(`rep ${rep + 1}/${opts.reps} ${c.name} ${mode}: ${rate}/s`);
        }
      }
    }

    // Control plane, after the traffic: each change moves the measured service's backend to another address, the next one back.
    for (let rep = 0; rep < opts.changeReps; rep++) {
      for (const [i, row] of result.rows.entries()) {
        const m = membranes[i]!;
        const ip = rep % 2 === 0 ? MOVED_BACKEND_IP : m.server.ip;
        row.membraneChangeMs.push(await timedMs(() => m.agent.putService(targetService(ip, SERVER_PORT))));
        for (const backend of BACKENDS) {
          const r = routers.get(`${backend}/${row.services}`)!;
          row.iptablesChangeMs[backend].partial.push(await iptablesChange(r, 'partial'));
          row.iptablesChangeMs[backend].full.push(await iptablesChange(r, 'full'));
        }
        opts.log(`change ${rep + 1}/${opts.changeReps} at ${plural(row.services)}: membrane ${row.membraneChangeMs.at(-1)!.toFixed(1)} ms, ` +
          BACKENDS.map((b) => `iptables-${b} partial ${Math.round(row.iptablesChangeMs[b].partial.at(-1)!)} ms, full ${Math.round(row.iptablesChangeMs[b].full.at(-1)!)} ms`).join(', '));
      }
    }
    return result;
  } finally {
    for (const s of servers) s.kill('SIGKILL');
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  }
}

// ---- the tables ----

const num = (x: number) => Math.round(x).toLocaleString('en-US');
const k = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(1)}k` : `${Math.round(x)}`);
const plural = (n: number) => `${num(n)} service${n === 1 ? '' : 's'}`;
const range = (xs: number[]) => `${k(Math.min(...xs))}–${k(Math.max(...xs))}`;

function msCell(xs: number[]): string {
  const m = median(xs);
  const f = (x: number) => (x < 10 ? x.toFixed(1) : num(x));
  return `${f(m)} (${f(Math.min(...xs))}–${f(Math.max(...xs))})`;
}

function rateCell(xs: number[], base: number[]): string {
  return `${num(median(xs))} ×${(median(xs) / median(base)).toFixed(2)}`;
}

/** The LB maps that grow with the services (the others are preallocated, or empty without Maglev). */
const growing = (r: ServicesBenchRow) => ['lb_services', 'lb_backends', 'lb_rev_nat'].reduce((a, m) => a + (r.lbMapBytes[m] ?? 0), 0);

function mib(bytes: number): string {
  return bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${Math.round(bytes / 1024)} KiB`;
}

export function formatServicesTables(res: ServicesBenchResult): string {
  const summary = [
    '| services | membrane CRR conn/s (× direct pod IP) | membrane RR trans/s (× direct) | iptables-nft CRR (× no NAT) | iptables-nft RR (× no NAT) | ' +
      'iptables-legacy CRR (× no NAT) | iptables-legacy RR (× no NAT) | one change applied, ms: membrane PUT / iptables-nft / iptables-legacy partial sync |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of res.rows) {
    summary.push(`| ${num(r.services)} | ${rateCell(r.membraneVip.crr, r.membraneDirect.crr)} | ${rateCell(r.membraneVip.rr, r.membraneDirect.rr)} | ` +
      BACKENDS.map((b) => `${rateCell(r.iptables[b].crr, res.noNat.crr)} | ${rateCell(r.iptables[b].rr, res.noNat.rr)}`).join(' | ') +
      ` | ${msCell(r.membraneChangeMs)} / ${msCell(r.iptablesChangeMs.nft.partial)} / ${msCell(r.iptablesChangeMs.legacy.partial)} |`);
  }

  const all = ['| configuration | TCP_CRR-like conn/s median (range) | TCP_RR-like trans/s median (range) |', '|---|---|---|'];
  const line = (name: string, x: Rates) => all.push(`| ${name} | ${num(median(x.crr))} (${range(x.crr)}) | ${num(median(x.rr))} (${range(x.rr)}) |`);
  line('plain routing between namespaces, no NAT (the iptables reference)', res.noNat);
  for (const r of res.rows) {
    line(`membrane, ${plural(r.services)}: direct pod IP (the membrane reference)`, r.membraneDirect);
    line(`membrane, ${plural(r.services)}: ClusterIP`, r.membraneVip);
    for (const b of BACKENDS) line(`iptables-${b}, ${plural(r.services)}: ClusterIP`, r.iptables[b]);
  }

  const control = [
    '| services | membrane: PUT of one changed service, ms | membrane: agent restart adopting the services, ms | lb_services + lb_backends + lb_rev_nat memlock (all five LB maps) | agent RSS | nat rules | ' +
      'iptables-nft: initial load / partial sync / full sync, ms | iptables-legacy: initial load / partial sync / full sync, ms |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of res.rows) {
    control.push(`| ${num(r.services)} | ${msCell(r.membraneChangeMs)} | ${r.membraneAdoptMs ? num(r.membraneAdoptMs) : '–'} | ${mib(growing(r))} (${mib(Object.values(r.lbMapBytes).reduce((a, b) => a + b, 0))}) | ${r.agentRssMb} MB | ${num(r.iptablesRules)} | ` +
      BACKENDS.map((b) => `${num(r.iptablesLoadMs[b])} / ${msCell(r.iptablesChangeMs[b].partial)} / ${msCell(r.iptablesChangeMs[b].full)}`).join(' | ') + ' |');
  }
  const out = [summary.join('\n'), 'All configurations (medians and ranges):', all.join('\n'), 'Control plane:', control.join('\n')];
  const first = res.rows[0];
  const last = res.rows.at(-1);
  if (first && last && median(last.membraneChangeMs) > 3 * median(first.membraneChangeMs)) {
    out.push(`membrane's PUT of one changed service takes longer with more services (${msCell(last.membraneChangeMs)} ms at ${plural(last.services)}, ` +
      `${msCell(first.membraneChangeMs)} ms at ${plural(first.services)}), although the LB map writes for one service are the same at every size: ` +
      'the agent\'s handling around them goes over every service on each change (it lists them all again for the policy engine\'s view of services).');
  }
  return out.join('\n\n');
}
