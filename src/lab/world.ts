import fs from 'node:fs';
import path from 'node:path';
import { run } from '../common/exec.js';
import { MembraneError, errorMessage } from '../common/errors.js';
import { labPaths, netnsPath, worldNetnsName } from './names.js';
import { addNetns, deleteNetns, netnsPids } from './netns.js';
import { isRunning, spawnDetached, stopPids, stopProcess } from './process.js';
import type { NodeRecord, WorldRecord, WorldServer } from './state.js';
import type { LabToolchain } from './toolchain.js';

/**
 * The lab's simulated outside world: a network namespace joined to node 1
 * by a veth pair, answering on addresses of the documentation ranges
 * 198.51.100.0/24 and 203.0.113.0/24 (RFC 5737: never real hosts) with
 * `membrane workload serve`, one per address: a UDP socket bound to the
 * wildcard would answer from the route's source address rather than the one
 * asked, and the prober would never see the answer. Pods reach it through their node, whose
 * datapath sees these addresses as world (or the CIDR identities a policy
 * names), so CIDR policies can be tried on real traffic. Everything stays
 * inside namespaces the lab made: nothing is routed to the machine's own
 * interfaces.
 */

/** The node end of the veth pair; 14 characters, within IFNAMSIZ (15). */
export const WORLD_NODE_DEVICE = 'membrane_world';

/** The node side's addresses, the world's gateways. */
export const WORLD_GATEWAYS = ['198.51.100.1/24', '203.0.113.1/24'];

/** The addresses the world answers on, each in a /24 of its gateways. */
export const WORLD_ADDRESSES = ['198.51.100.10', '198.51.100.11', '198.51.100.200', '203.0.113.10', '203.0.113.11'];

/** Where the world sends the pods' replies: the lab's whole pod range, through the node. */
const POD_RANGE = '10.244.0.0/16';

export const WORLD_TCP_PORTS = [80, 443];
export const WORLD_UDP_PORTS = [53];

/** What `workload serve` answers with. */
export const WORLD_NAME = 'world';

/** `ip -batch` lines for the node's netns and for the world's, after the veth pair exists. Pure. */
export function worldLinkSetup(nodeDevice: string): { node: string[]; world: string[] } {
  const gateway = WORLD_GATEWAYS[0]!.split('/')[0]!;
  return {
    node: [...WORLD_GATEWAYS.map((a) => `addr add ${a} dev ${nodeDevice}`), `link set ${nodeDevice} up`],
    world: [
      'link set eth0 up',
      ...WORLD_ADDRESSES.map((a) => `addr add ${a}/24 dev eth0`),
      `route add ${POD_RANGE} via ${gateway} dev eth0`,
    ],
  };
}

/** The world's server for one address: the world's TCP and UDP ports. */
export function worldServeArgv(toolchain: LabToolchain, address: string): string[] {
  return [toolchain.membrane, 'workload', 'serve', '--tcp', WORLD_TCP_PORTS.join(','), '--udp', WORLD_UDP_PORTS.join(','),
    '--host', address, '--name', WORLD_NAME];
}

export function worldServerLog(lab: string, address: string): string {
  return path.join(labPaths(lab).worldDir, `${address}.log`);
}

/** What `workload serve` prints once every port is bound. */
const SERVING = /^serve: answering /m;

function readLog(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function logTail(file: string, lines = 15): string {
  return readLog(file).trimEnd().split('\n').slice(-lines).join('\n') || '(no output)';
}

async function ipBatch(netns: string, lines: string[]): Promise<void> {
  await run('ip', ['-n', netns, '-batch', '-'], { input: lines.join('\n') + '\n' });
}

/**
 * Makes the world beside `node` and starts its process, waiting until it
 * listens. On failure, undoes it all and throws.
 */
export async function startWorld(lab: string, node: NodeRecord, toolchain: LabToolchain, readyTimeoutMs = 15_000): Promise<WorldRecord> {
  const record: WorldRecord = {
    netns: worldNetnsName(lab), node: node.name, nodeDevice: WORLD_NODE_DEVICE,
    gateways: [...WORLD_GATEWAYS], addresses: [...WORLD_ADDRESSES], servers: [],
  };
  await addNetns(record.netns);
  try {
    // Made in the node's netns with its peer moved straight into the world's: no end ever sits in the root netns.
    await run('ip', ['-n', node.netns, 'link', 'add', record.nodeDevice, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', record.netns]);
    const setup = worldLinkSetup(record.nodeDevice);
    await ipBatch(node.netns, setup.node);
    await ipBatch(record.netns, setup.world);
    fs.rmSync(labPaths(lab).worldDir, { recursive: true, force: true });
    fs.mkdirSync(labPaths(lab).worldDir, { recursive: true });
    for (const address of record.addresses) {
      const server = spawnDetached(['nsenter', `--net=${netnsPath(record.netns)}`, '--', ...worldServeArgv(toolchain, address)], {
        logFile: worldServerLog(lab, address), env: { PATH: toolchain.podPath, HOME: '/root' },
      });
      record.servers.push({ address, process: server });
    }
    await waitServing(lab, record.servers, readyTimeoutMs);
    return record;
  } catch (err) {
    await stopWorld(lab, record, node).catch((e) => process.stderr.write(`warning: cleaning up the world of lab ${lab} failed: ${errorMessage(e)}\n`));
    throw err;
  }
}

async function waitServing(lab: string, servers: WorldServer[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const s of servers) {
    const log = worldServerLog(lab, s.address);
    while (!SERVING.test(readLog(log))) {
      if (!isRunning(s.process)) throw new MembraneError('EEXEC', `the world's server on ${s.address} exited while starting; its output:\n${logTail(log)}`);
      if (Date.now() > deadline) throw new MembraneError('EEXEC', `the world's server on ${s.address} did not listen within ${timeoutMs / 1000} s; its output:\n${logTail(log)}`);
      await sleep(50);
    }
  }
}

/**
 * Stops the world's servers (and anything else in its netns), removes its
 * netns (which takes the veth pair with it) and its logs. Tolerates pieces
 * already gone. `node`: the node it is joined to, when that still exists,
 * to remove the node's end should the world's netns be gone already.
 */
export async function stopWorld(lab: string, world: WorldRecord, node?: NodeRecord): Promise<void> {
  await Promise.all((world.servers ?? []).map((s) => stopProcess(s.process, 5_000)));
  await stopPids(netnsPids(world.netns));
  await deleteNetns(world.netns);
  if (node && fs.existsSync(netnsPath(node.netns))) {
    await run('ip', ['-n', node.netns, 'link', 'del', world.nodeDevice], { allowFailure: true });
  }
  fs.rmSync(labPaths(lab).worldDir, { recursive: true, force: true });
}

/** Whether every server of the world still runs. */
export function worldRunning(world: WorldRecord | undefined): boolean {
  return world !== undefined && world.servers.length > 0 && world.servers.every((s) => isRunning(s.process));
}
