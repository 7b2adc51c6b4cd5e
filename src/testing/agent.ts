/**
 * A throwaway membrane node for privileged tests: a fresh network namespace
 * (the "node") with a real `membrane agent` running inside it, its socket,
 * state directory and bpffs directory all unique to this run. `stop()`
 * removes every one of them; call it in an `after` hook.
 *
 *   const node = await startTestNode();
 *   try { ... invokeCni({ ..., runtimeNetns: node.nodeNetnsPath, config: { agentSocket: node.socket } }) }
 *   finally { await node.stop(); }
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentClient } from '../api/client.js';
import { run } from '../common/exec.js';
import { uniqueName } from './names.js';

/** The repository root (dist/testing/agent.js -> ../..). */
export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const MEMBRANE_BIN = join(REPO_ROOT, 'bin', 'membrane');
export const MEMBRANE_CNI_BIN = join(REPO_ROOT, 'bin', 'membrane-cni');

export interface TestNode {
  /** Node name, also the netns name (`ip netns` name). */
  name: string;
  nodeNetns: string;
  /** /run/netns/<name>: pass as `runtimeNetns` so the CNI plugin runs on this node. */
  nodeNetnsPath: string;
  podCIDR: string;
  /** The agent's unix socket: `agentSocket` in CNI configs, or `new AgentClient(socket)`. */
  socket: string;
  stateDir: string;
  bpffsDir: string;
  /** The agent's stdout+stderr, for a failing test's message. */
  logFile: string;
  /** The running agent's pid. */
  readonly agentPid: number;
  /** Sends `signal` to the agent and waits for it to exit (the datapath stays). */
  killAgent(signal: NodeJS.Signals): Promise<void>;
  /** Starts the agent again on the same state dir, socket and pins; resolves once it is ready. */
  restartAgent(): Promise<void>;
  /** Stops the agent (SIGTERM by pid, SIGKILL after 10 s) and removes the netns, bpffs dir and state. Idempotent. */
  stop(): Promise<void>;
}

export interface TestNodeOptions {
  /** Default: a unique "mn" + 6 hex. */
  name?: string;
  /** Default 10.244.7.0/24 (each node lives in its own netns, so nodes may share it unless they are meant to talk). */
  podCIDR?: string;
  /** How long to wait for GET /v1/healthz. Default 60 s (the agent loads BPF objects on start). */
  readyTimeoutMs?: number;
  /** More `membrane agent` flags, e.g. ['--enable-policy', 'always']. */
  agentArgs?: string[];
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode !== null) res();
    else child.once('exit', () => res());
  });
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no agent log)';
  }
}

/**
 * Creates the node netns and starts the agent in it; resolves once the
 * agent answers GET /v1/healthz. Throws (after cleaning up) when the agent
 * exits or does not become ready, with the tail of its log.
 */
export async function startTestNode(opts: TestNodeOptions = {}): Promise<TestNode> {
  const name = opts.name ?? uniqueName('mn');
  const podCIDR = opts.podCIDR ?? '10.244.7.0/24';
  const root = mkdtempSync(`/tmp/membrane-test-${name}-`);
  const stateDir = join(root, 'state');
  const socket = join(root, 'agent.sock');
  const logFile = join(root, 'agent.log');
  const bpffsDir = `/sys/fs/bpf/membrane/${name}`;
  const nodeNetnsPath = `/run/netns/${name}`;

  let child: ChildProcess | undefined;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      const done = exited(child);
      child.kill('SIGTERM');
      const timer = setTimeout(() => child?.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(timer);
    }
    await run('ip', ['netns', 'del', name], { allowFailure: true });
    rmSync(bpffsDir, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
  };

  const startAgent = async (): Promise<void> => {
    const log = openSync(logFile, 'a');
    // nsenter execs the agent (no fork): the pid we hold is the agent's own.
    child = spawn('nsenter', [`--net=${nodeNetnsPath}`, MEMBRANE_BIN, 'agent',
      '--node', name, '--pod-cidr', podCIDR, '--socket', socket, '--state-dir', stateDir, '--bpffs-dir', bpffsDir, ...(opts.agentArgs ?? [])],
    { stdio: ['ignore', log, log] });
    closeSync(log);
    await waitReady(child, new AgentClient(socket, 2_000), opts.readyTimeoutMs ?? 60_000, logFile);
  };

  try {
    await run('ip', ['netns', 'add', name]);
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    await startAgent();
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    name, nodeNetns: name, nodeNetnsPath, podCIDR, socket, stateDir, bpffsDir, logFile, stop,
    get agentPid() { return child!.pid!; },
    async killAgent(signal: NodeJS.Signals) {
      const c = child!;
      const done = exited(c);
      c.kill(signal);
      await done;
    },
    restartAgent: startAgent,
  };
}

async function waitReady(child: ChildProcess, client: AgentClient, timeoutMs: number, logFile: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`membrane agent exited (${child.exitCode ?? child.signalCode}) before it was ready; its log:\n${tail(logFile)}`);
    }
    try {
      if ((await client.healthz()).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      throw new Error(`membrane agent did not answer /v1/healthz within ${timeoutMs} ms; its log:\n${tail(logFile)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
