import type { ContainerSpec } from './manifest.js';

/**
 * What a lab pod runs. A container with a command runs it (command + args,
 * as Kubernetes does); without one, its image picks one of membrane's
 * built-in workloads, since the lab runs no images. Pure.
 */
export interface PodCommand {
  argv: string[];
  /** A TCP port the workload listens on once ready. */
  readinessPort?: number;
  /** What the image was mapped to, for messages. */
  builtin?: 'deathstar' | 'pause';
}

export function podCommand(container: ContainerSpec): PodCommand {
  if (container.command && container.command.length > 0) {
    const command: PodCommand = { argv: [...container.command, ...(container.args ?? [])] };
    if (container.readinessPort !== undefined) command.readinessPort = container.readinessPort;
    return command;
  }
  if (/starwars/.test(container.image)) {
    // The deathstar image's CMD is `app --port 80 --host 0.0.0.0`; args replace it, as in Kubernetes.
    const args = container.args && container.args.length > 0 ? container.args : ['--port', '80'];
    return { argv: ['membrane', 'workload', 'deathstar', ...args], readinessPort: container.readinessPort ?? portArg(args) ?? 80, builtin: 'deathstar' };
  }
  // json-mock, alpine-curl and every other image: a process that keeps the pod
  // alive; its tools (curl) are the machine's, used through `lab exec`.
  const pause: PodCommand = { argv: ['membrane', 'workload', 'pause'], builtin: 'pause' };
  if (container.readinessPort !== undefined) pause.readinessPort = container.readinessPort;
  return pause;
}

function portArg(args: string[] | undefined): number | undefined {
  if (!args) return undefined;
  const i = args.indexOf('--port');
  const v = i >= 0 ? Number(args[i + 1]) : NaN;
  return Number.isInteger(v) && v > 0 && v < 65536 ? v : undefined;
}
