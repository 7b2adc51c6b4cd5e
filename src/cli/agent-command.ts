/** `membrane agent`: runs the node agent in the foreground. */
import type { Command } from 'commander';
import { Agent } from '../agent/agent.js';
import { ApiServer } from '../api/server.js';
import { DEFAULT_AGENT_SOCKET } from '../api/client.js';
import { MembraneError } from '../common/errors.js';
import type { EnforcementMode } from '../agent/policy-engine.js';

interface AgentFlags {
  node: string; podCidr: string; socket?: string; stateDir: string; bpffsDir?: string; clusterName: string;
  mtu: string; enablePolicy: string; flowBufferSize: string; policyRegeneration: string;
}

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('run the node agent (root): owns the node\'s eBPF datapath, IPAM, identities and policy')
    .requiredOption('--node <name>', 'node name')
    .requiredOption('--pod-cidr <cidr>', 'the node\'s pod CIDR, e.g. 10.244.1.0/24')
    .option('--socket <path>', `API socket path (default ${DEFAULT_AGENT_SOCKET})`)
    .option('--state-dir <dir>', 'persisted state', '/var/lib/membrane')
    .option('--bpffs-dir <dir>', 'map pin directory (default /sys/fs/bpf/membrane/<node>)')
    .option('--cluster-name <name>', 'cluster name for identity labels', 'default')
    .option('--mtu <n>', 'pod interface MTU', '1500')
    .option('--enable-policy <mode>', 'policy enforcement: default, always or never', 'default')
    .option('--flow-buffer-size <n>', 'flows kept in memory', '4095')
    .option('--policy-regeneration <how>', 'incremental (only what a change touches) or full (every endpoint on every change: a benchmark baseline)', 'incremental')
    .action(async (f: AgentFlags, cmd: Command) => {
      if (!['default', 'always', 'never'].includes(f.enablePolicy)) throw new MembraneError('EINVAL', `--enable-policy: "${f.enablePolicy}" is not default, always or never`);
      if (!['incremental', 'full'].includes(f.policyRegeneration)) throw new MembraneError('EINVAL', `--policy-regeneration: "${f.policyRegeneration}" is not incremental or full`);
      const mtu = Number(f.mtu);
      if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535) throw new MembraneError('EINVAL', `--mtu: "${f.mtu}" is not an MTU between 576 and 65535`);
      const ring = Number(f.flowBufferSize);
      if (!Number.isInteger(ring) || ring < 1) throw new MembraneError('EINVAL', `--flow-buffer-size: "${f.flowBufferSize}" is not a positive integer`);
      if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(f.node)) throw new MembraneError('EINVAL', `--node: "${f.node}" is not a DNS-1123 name`);
      const log = (m: string) => process.stderr.write(`${new Date().toISOString()} ${m}\n`);
      // --socket may be taken by the global option of the same name.
      const socket = f.socket ?? cmd.optsWithGlobals<{ socket?: string }>().socket ?? DEFAULT_AGENT_SOCKET;
      const agent = new Agent({
        node: f.node, clusterName: f.clusterName, podCIDR: f.podCidr, stateDir: f.stateDir,
        bpffsDir: f.bpffsDir ?? `/sys/fs/bpf/membrane/${f.node}`, mtu, enforcement: f.enablePolicy as EnforcementMode,
        flowRingCapacity: ring, fullRegeneration: f.policyRegeneration === 'full', log,
      });
      await agent.start();
      const api = new ApiServer(agent, socket, log);
      await api.listen();
      log(`API listening on ${socket}`);
      let stopping = false;
      const shutdown = async (sig: string) => {
        if (stopping) return;
        stopping = true;
        log(`${sig}: stopping; the datapath keeps enforcing from its pinned maps`);
        await api.close();
        await agent.stop();
        process.exit(0);
      };
      process.on('SIGTERM', () => void shutdown('SIGTERM'));
      process.on('SIGINT', () => void shutdown('SIGINT'));
      await new Promise(() => { /* run until signalled */ });
    });
}
