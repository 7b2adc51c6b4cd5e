/** `membrane agent`: runs the node agent in the foreground. */
import type { Command } from 'commander';
import { Agent, VERSION } from '../agent/agent.js';
import { ApiServer } from '../api/server.js';
import { DEFAULT_AGENT_SOCKET } from '../api/client.js';
import { MembraneError } from '../common/errors.js';
import type { EnforcementMode } from '../agent/policy-engine.js';
import { DEFAULT_HUBBLE_LISTEN_ADDRESS, HubbleServer, defaultHubbleSocket } from '../hubble/grpc/server.js';
import { DEFAULT_TRACE_CONFIG, type TraceConfig, parseTraceFlags, parseTraceInterval, parseTraceLevel } from '../datapath/trace-config.js';
import { DEFAULT_EXPORT_MAX_BACKUPS, DEFAULT_EXPORT_MAX_SIZE_MB, type FlowExportFlags, flowLogOptionsFromFlags } from '../hubble/flowlog.js';
import { createMembraneMetrics } from '../metrics/agent-source.js';
import { DEFAULT_PROMETHEUS_SERVE_ADDR, MetricsServer, parseServeAddress } from '../metrics/server.js';

interface AgentFlags extends FlowExportFlags {
  node: string; podCidr: string; socket?: string; stateDir: string; bpffsDir?: string; clusterName: string;
  mtu: string; enablePolicy: string; flowBufferSize: string; policyRegeneration: string;
  hubbleSocketPath?: string; hubbleListenAddress: string;
  prometheusServeAddr: string;
  monitorAggregation: string; monitorAggregationInterval: string; monitorAggregationFlags: string;
  devices?: string;
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
    .option('--hubble-socket-path <path>', 'Hubble Observer gRPC API unix socket (default hubble.sock beside --socket); "" disables')
    .option('--hubble-listen-address <addr>', 'Hubble Observer gRPC API on TCP host:port, in the node\'s network namespace; "" disables', DEFAULT_HUBBLE_LISTEN_ADDRESS)
    .option('--prometheus-serve-addr <addr>', 'serve Prometheus metrics (GET /metrics) on host:port in the node\'s network namespace; "" disables', DEFAULT_PROMETHEUS_SERVE_ADDR)
    .option('--monitor-aggregation <level>', 'which forwarded packets become trace flows: none (every packet, from-endpoint too), low (every packet), medium (per connection: first packets, new TCP flags, and periodically) or maximum (as medium, not periodically)', DEFAULT_TRACE_CONFIG.level)
    .option('--monitor-aggregation-interval <duration>', 'medium: a connection direction is reported again after this long (e.g. 5s)', `${DEFAULT_TRACE_CONFIG.intervalS}s`)
    .option('--monitor-aggregation-flags <flags>', 'medium, maximum: TCP flags whose first appearance in a direction is reported: all, or a list like syn,fin,rst', 'all')
    .option('--hubble-export-file-path <path>', 'write every flow (as Hubble\'s exporter: one {"flow", "node_name", "time"} JSON a line) to this file, rotated by size; read back by observe --since past the ring. Absent: off')
    .option('--hubble-export-file-max-size-mb <mb>', `rotate the flow log at this size (default ${DEFAULT_EXPORT_MAX_SIZE_MB})`)
    .option('--hubble-export-file-max-backups <n>', `rotated flow log files kept, <path>.1 newest (default ${DEFAULT_EXPORT_MAX_BACKUPS})`)
    .option('--hubble-export-allowlist <json>', 'only flows matching one of these FlowFilters (a JSON array) go to the flow log')
    .option('--hubble-export-denylist <json>', 'flows matching one of these FlowFilters (a JSON array) stay out of the flow log')
    .option('--devices <names>', 'the node\'s external devices, comma-separated (e.g. eth0,eth1): NodePort services answer connections arriving on them. Absent: none')
    .option('--policy-regeneration <how>', 'incremental (only what a change touches) or full (every endpoint on every change: a benchmark baseline)', 'incremental')
    .action(async (f: AgentFlags, cmd: Command) => {
      if (!['default', 'always', 'never'].includes(f.enablePolicy)) throw new MembraneError('EINVAL', `--enable-policy: "${f.enablePolicy}" is not default, always or never`);
      if (!['incremental', 'full'].includes(f.policyRegeneration)) throw new MembraneError('EINVAL', `--policy-regeneration: "${f.policyRegeneration}" is not incremental or full`);
      const mtu = Number(f.mtu);
      if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535) throw new MembraneError('EINVAL', `--mtu: "${f.mtu}" is not an MTU between 576 and 65535`);
      const ring = Number(f.flowBufferSize);
      if (!Number.isInteger(ring) || ring < 1) throw new MembraneError('EINVAL', `--flow-buffer-size: "${f.flowBufferSize}" is not a positive integer`);
      const metricsAddr = parseServeAddress(f.prometheusServeAddr);
      const flowExport = flowLogOptionsFromFlags(f);
      const trace: TraceConfig = {
        level: parseTraceLevel(f.monitorAggregation), intervalS: parseTraceInterval(f.monitorAggregationInterval), flags: parseTraceFlags(f.monitorAggregationFlags),
      };
      if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(f.node)) throw new MembraneError('EINVAL', `--node: "${f.node}" is not a DNS-1123 name`);
      const log = (m: string) => process.stderr.write(`${new Date().toISOString()} ${m}\n`);
      // --socket may be taken by the global option of the same name.
      const socket = f.socket ?? cmd.optsWithGlobals<{ socket?: string }>().socket ?? DEFAULT_AGENT_SOCKET;
      const devices = f.devices === undefined ? [] : f.devices.split(',').map((d) => d.trim()).filter((d) => d !== '');
      for (const d of devices) if (!/^[^\s/]{1,15}$/.test(d)) throw new MembraneError('EINVAL', `--devices: "${d}" is not a device name (at most 15 characters, no spaces or slashes)`);
      const agent = new Agent({
        node: f.node, clusterName: f.clusterName, podCIDR: f.podCidr, stateDir: f.stateDir,
        bpffsDir: f.bpffsDir ?? `/sys/fs/bpf/membrane/${f.node}`, mtu, enforcement: f.enablePolicy as EnforcementMode,
        flowRingCapacity: ring, fullRegeneration: f.policyRegeneration === 'full', trace, log, devices, ...(flowExport ? { flowExport } : {}),
      });
      const metrics = createMembraneMetrics(agent, log);
      await agent.start();
      const api = new ApiServer(agent, socket, log, metrics);
      await api.listen();
      log(`API listening on ${socket}`);
      const hubbleSocket = f.hubbleSocketPath ?? defaultHubbleSocket(socket);
      const hubble = new HubbleServer({
        ring: agent.ring, agentEvents: agent.agentEvents, nodeName: f.node, version: VERSION, startedAtMs: agent.startedAtMs,
        namespaces: () => agent.listNamespaces().map((n) => n.name), flushFlows: () => agent.flushFlows(), flowLog: agent.flowLog,
      }, { socketPath: hubbleSocket, listenAddress: f.hubbleListenAddress, clusterName: f.clusterName });
      await hubble.listen();
      log(`Hubble Observer API on ${[hubbleSocket && `unix://${hubbleSocket}`, f.hubbleListenAddress].filter(Boolean).join(' and ') || 'nothing (disabled)'}`);
      const metricsServer = new MetricsServer(metrics.registry, log);
      if (metricsAddr) {
        await metricsServer.listen(metricsAddr);
        log(`Prometheus metrics on http://${metricsAddr.host ?? '*'}:${metricsAddr.port}/metrics`);
      }
      let stopping = false;
      const shutdown = async (sig: string) => {
        if (stopping) return;
        stopping = true;
        log(`${sig}: stopping; the datapath keeps enforcing from its pinned maps`);
        await api.close();
        await hubble.close();
        await metricsServer.close();
        await agent.stop();
        process.exit(0);
      };
      process.on('SIGTERM', () => void shutdown('SIGTERM'));
      process.on('SIGINT', () => void shutdown('SIGINT'));
      await new Promise(() => { /* run until signalled */ });
    });
}
