import { CommanderError, type Command } from 'commander';
import { ValidationError } from '../common/errors.js';
import { runDeathstar } from './deathstar.js';
import { parseTtl, runDns, type DnsOptions } from './dns.js';
import { runPause } from './pause.js';
import { runProbe } from './probe.js';
import { portListOption, runServe } from './serve.js';

/** `membrane workload ...`: the built-in workloads lab pods run in place of container images. */

function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ValidationError('--port', `must be an integer from 0 to 65535, got "${v}"`);
  return n;
}

/**
 * Makes commander's own flag errors (unknown option, missing value) exit 2 like
 * membrane's ValidationErrors, so a caller tells bad flags from failed probes (exit 1).
 */
function badFlagsExit2(err: CommanderError): never {
  throw err.exitCode === 0 ? err : new CommanderError(2, err.code, err.message);
}

/** Adds `workload deathstar`, `pause`, `serve`, `probe` and `dns` to `program`. */
export function registerWorkloadCommands(program: Command): void {
  const workload = program.command('workload').description('built-in workloads run in lab pods');
  workload.command('deathstar')
    .description("the Star Wars demo's deathstar HTTP API (GET /v1/, POST /v1/request-landing, PUT /v1/exhaust-port)")
    .option('--port <port>', 'TCP port', parsePort, 80)
    .option('--host <address>', 'address to listen on', '0.0.0.0')
    .action(async (opts: { port: number; host: string }) => {
      await runDeathstar(opts.port, opts.host);
    });
  workload.command('pause')
    .description('sleep until terminated (keeps a pod alive)')
    .action(async () => {
      await runPause();
    });
  workload.command('serve')
    .description("answer with the pod's name on every TCP and UDP port given (for network policy tests)")
    .option('--tcp <ports>', 'comma list of TCP ports, e.g. 80,81 (repeatable)', portListOption('--tcp'))
    .option('--udp <ports>', 'comma list of UDP ports, e.g. 80,81 (repeatable)', portListOption('--udp'))
    .option('--host <address>', 'address to listen on', '0.0.0.0')
    .option('--name <name>', 'name to answer with (default: $POD_NAME, else the host name)')
    .exitOverride(badFlagsExit2)
    .action(async (opts: { tcp?: number[]; udp?: number[]; host: string; name?: string }) => {
      await runServe({ ...opts, tcp: opts.tcp ?? [], udp: opts.udp ?? [] });
    });
  workload.command('probe')
    .description('connect to `workload serve` targets at once and print, per target, "ok NAME" or "fail ERROR" (exit 1 unless all ok)')
    .option('--protocol <protocol>', 'tcp or udp', 'tcp')
    .option('--timeout <duration>', 'per-target deadline for the answer: 500ms, 1s, 2.5s', '1s')
    .option('--to <host:port>', 'target, repeatable', (v: string, prev?: string[]) => [...(prev ?? []), v])
    .option('-o, --output <format>', 'text or json (JSON lines)', 'text')
    .exitOverride(badFlagsExit2)
    .action(async (opts: { protocol: string; timeout: string; to?: string[]; output: string }) => {
      process.exitCode = await runProbe({ ...opts, to: opts.to ?? [] });
    });
  workload.command('dns')
    .description('the cluster DNS server: answers <svc>.<ns>.svc.<domain> (A, SRV) and pod names from a records file, over UDP and TCP; forwards nothing')
    .requiredOption('--records <file>', 'the records file the lab writes (JSON); reloaded when it changes')
    .option('--listen <ip>', 'address to listen on', '0.0.0.0')
    .option('--port <port>', 'UDP and TCP port', parsePort, 53)
    .option('--domain <domain>', 'the cluster domain', 'cluster.local')
    .option('--ttl <seconds>', 'TTL of every answer', parseTtl, 5)
    .exitOverride(badFlagsExit2)
    .action(async (opts: DnsOptions) => {
      await runDns(opts);
    });
}
