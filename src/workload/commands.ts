import type { Command } from 'commander';
import { ValidationError } from '../common/errors.js';
import { runDeathstar } from './deathstar.js';
import { runPause } from './pause.js';

/** `membrane workload ...`: the built-in workloads lab pods run in place of container images. */

function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ValidationError('--port', `must be an integer from 0 to 65535, got "${v}"`);
  return n;
}

/** Adds `workload deathstar` and `workload pause` to `program`. */
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
}
