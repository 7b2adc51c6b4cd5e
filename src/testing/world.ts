/**
 * A simulated outside world for a test node: a network namespace joined to
 * the node by a veth pair, holding addresses of the documentation ranges
 * 198.51.100.0/24 and 203.0.113.0/24 (never real hosts), with a route back
 * to the pods through the node. Nothing leaves the namespaces the test made.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { run } from '../common/exec.js';
import { MEMBRANE_BIN, type TestNode } from './agent.js';
import { uniqueName } from './names.js';

export interface TestWorld {
  netnsPath: string;
  /** Starts `membrane workload serve` on every world address, answering `name`. */
  serve(tcpPorts: number[], name?: string): Promise<ChildProcess>;
  remove(): Promise<void>;
}

export async function addTestWorld(node: TestNode, addresses: string[]): Promise<TestWorld> {
  const ns = uniqueName('mw');
  const nodeSide = uniqueName('mbrw');
  const children: ChildProcess[] = [];
  const remove = async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await run('ip', ['netns', 'del', ns], { allowFailure: true });
  };
  try {
    await run('ip', ['netns', 'add', ns]);
    await run('ip', ['-n', node.nodeNetns, 'link', 'add', nodeSide, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    const inNode = ['addr add 198.51.100.1/24 dev ' + nodeSide, 'addr add 203.0.113.1/24 dev ' + nodeSide, `link set ${nodeSide} up`];
    await run('ip', ['-n', node.nodeNetns, '-batch', '-'], { input: inNode.join('\n') + '\n' });
    const inWorld = ['link set lo up', 'link set eth0 up', ...addresses.map((a) => `addr add ${a}/24 dev eth0`),
      'route add 10.244.0.0/16 via 198.51.100.1 dev eth0'];
    await run('ip', ['-n', ns, '-batch', '-'], { input: inWorld.join('\n') + '\n' });
  } catch (err) {
    await remove();
    throw err;
  }
  return {
    netnsPath: `/run/netns/${ns}`,
    async serve(tcpPorts, name = 'world') {
      const c = spawn('nsenter', [`--net=/run/netns/${ns}`, MEMBRANE_BIN, 'workload', 'serve', '--tcp', tcpPorts.join(','), '--name', name], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(c);
      await new Promise<void>((resolve, reject) => {
        c.stdout!.on('data', (d: Buffer) => { if (String(d).includes('answering')) resolve(); });
        c.once('exit', (code) => reject(new Error(`world serve exited ${code}`)));
      });
      return c;
    },
    remove,
  };
}
