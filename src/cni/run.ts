/**
 * One CNI invocation, from the runtime's raw input (the CNI_* variables and
 * the stdin text) to what the runtime gets back (stdout and the exit code).
 * Two callers run it: the plugin process (main.ts), and the agent itself
 * for POST /v1/cni (src/api/cni-route.ts), which the compiled shim
 * (src/cni/shim/membrane-cni-shim.c) calls so a pod's ADD costs no Node
 * start-up. Both get exactly the same parsing, commands, errors and log.
 *
 * The spec's I/O contract: stdin and CNI_* are parsed and validated up
 * front, the command runs, and stdout gets exactly one thing: the result
 * (ADD, VERSION), nothing (DEL, CHECK, STATUS, GC) or the CNI error JSON
 * with a non-zero exit.
 */
import type { CniAgentApi } from './agent-client.js';
import type { CommandHandler } from './command.js';
import { LATEST_VERSION, SUPPORTED_VERSIONS, parseCommand, parseEnv, parseNetConf, peekVersion, versionToAnswer,
  type CniCommand, type NetConf } from './config.js';
import { toCniError, type CniErrorJson } from './errors.js';

/** The commands' modules are imported only when one runs: a plugin process loads just its own. */
const COMMANDS: Record<Exclude<CniCommand, 'VERSION'>, () => Promise<CommandHandler>> = {
  ADD: async () => (await import('./add.js')).cmdAdd,
  DEL: async () => (await import('./del.js')).cmdDel,
  CHECK: async () => (await import('./check.js')).cmdCheck,
  STATUS: async () => (await import('./status.js')).cmdStatus,
  GC: async () => (await import('./gc.js')).cmdGc,
};

/** STATUS is polled by runtimes; a wedged agent must not hang it. */
const STATUS_TIMEOUT_MS = 10_000;

export interface InvocationInput {
  /** The CNI_* variables (other keys are ignored). */
  env: Readonly<Record<string, string | undefined>>;
  /** Reads the network configuration; called once the command is known, so its module loads meanwhile. */
  stdin(): Promise<string>;
  /** The agent at `socket` (the configuration's agentSocket); `timeoutMs` bounds each call when given. */
  connectAgent(socket: string, timeoutMs?: number): CniAgentApi;
  /** Who runs the invocation, for the log file: the plugin process or the agent. */
  servedBy: 'plugin' | 'agent';
  /** The plugin process's Node start-up (ms), for the log file. */
  startupMs?: number;
}

export interface InvocationOutput {
  /** Exactly what goes to stdout: one JSON line, or nothing. */
  stdout: string;
  exitCode: number;
}

const line = (obj: object): string => JSON.stringify(obj) + '\n';

/** Runs one invocation. Never throws: every failure becomes the CNI error JSON and exit code 1. */
export async function runInvocation(input: InvocationInput): Promise<InvocationOutput> {
  const startedAt = performance.now() - (input.startupMs ?? 0);
  const notes: string[] = [];
  const stepsMs: Record<string, number> = {};
  const timed = async <T>(step: string, work: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await work();
    } finally {
      stepsMs[step] = Math.round((performance.now() - t0) * 10) / 10;
    }
  };
  const { env: raw } = input;
  let stdin = '';
  let command: CniCommand | undefined;
  let conf: NetConf | undefined;
  let error: CniErrorJson | undefined;
  let stdout = '';
  try {
    command = parseCommand(raw);
    const handler = command === 'VERSION' ? undefined : COMMANDS[command]();
    // Awaited below; until then a failed import must not count as unhandled.
    handler?.catch(() => undefined);
    stdin = await input.stdin();
    // VERSION needs no configuration, only the version the runtime speaks.
    if (command === 'VERSION') {
      return { stdout: line({ cniVersion: versionToAnswer(stdin), supportedVersions: [...SUPPORTED_VERSIONS] }), exitCode: 0 };
    }
    conf = parseNetConf(stdin, command);
    const env = parseEnv(command, raw);
    const run = await handler!;
    const agent = input.connectAgent(conf.agentSocket, command === 'STATUS' ? STATUS_TIMEOUT_MS : undefined);
    const output = await run({ env, conf, agent, note: (l) => notes.push(l), timed });
    if (output !== undefined) stdout = line(output);
  } catch (err) {
    if (command === undefined) stdin = await input.stdin().catch(() => '');
    const cniErr = toCniError(err, command ? `running ${command}` : 'reading the invocation', conf?.agentSocket);
    error = cniErr.toJson(conf?.cniVersion ?? peekVersion(stdin) ?? LATEST_VERSION);
    stdout = line(error);
  }
  if (conf?.logFile) {
    const { appendInvocationLog } = await import('./log.js');
    appendInvocationLog(conf.logFile, {
      time: new Date().toISOString(),
      command: command ?? '?',
      // Raw variables: the entry is written even when they failed validation.
      ...(raw['CNI_CONTAINERID'] ? { containerId: raw['CNI_CONTAINERID'] } : {}),
      ...(raw['CNI_IFNAME'] ? { ifName: raw['CNI_IFNAME'] } : {}),
      ...(raw['CNI_NETNS'] ? { netns: raw['CNI_NETNS'] } : {}),
      outcome: error ? 'error' : 'ok',
      ...(error ? { code: error.code, msg: error.msg } : {}),
      servedBy: input.servedBy,
      durationMs: Math.round(performance.now() - startedAt),
      ...(input.startupMs !== undefined ? { startupMs: Math.round(input.startupMs) } : {}),
      ...(Object.keys(stepsMs).length > 0 ? { stepsMs } : {}),
      ...(notes.length > 0 ? { notes } : {}),
    });
  }
  return { stdout, exitCode: error ? 1 : 0 };
}
