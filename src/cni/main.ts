/**
 * membrane-cni: the CNI plugin container runtimes execute (spec 1.0.0 and
 * 1.1.0). This file is only the command table and the spec's I/O contract:
 * stdin and CNI_* are parsed and validated up front, the command runs, and
 * stdout gets exactly one thing: the result (ADD, VERSION), nothing (DEL,
 * CHECK, STATUS, GC) or the CNI error JSON with a non-zero exit.
 *
 * The plugin is on every pod's start-up path: each command's module (and
 * the agent client) is imported only when that command runs.
 */
import type { CommandHandler } from './command.js';
import { LATEST_VERSION, SUPPORTED_VERSIONS, parseCommand, parseEnv, parseNetConf, peekVersion, versionToAnswer,
  type CniCommand, type NetConf } from './config.js';
import { toCniError, type CniErrorJson } from './errors.js';
import { appendInvocationLog } from './log.js';

const COMMANDS: Record<Exclude<CniCommand, 'VERSION'>, () => Promise<CommandHandler>> = {
  ADD: async () => (await import('./add.js')).cmdAdd,
  DEL: async () => (await import('./del.js')).cmdDel,
  CHECK: async () => (await import('./check.js')).cmdCheck,
  STATUS: async () => (await import('./status.js')).cmdStatus,
  GC: async () => (await import('./gc.js')).cmdGc,
};

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function print(obj: object): void {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

async function main(): Promise<number> {
  const started = performance.now();
  const stdin = await readStdin();
  const notes: string[] = [];
  let command: CniCommand | undefined;
  let conf: NetConf | undefined;
  let error: CniErrorJson | undefined;
  try {
    command = parseCommand(process.env);
    // VERSION needs no configuration, only the version the runtime speaks.
    if (command === 'VERSION') {
      print({ cniVersion: versionToAnswer(stdin), supportedVersions: [...SUPPORTED_VERSIONS] });
      return 0;
    }
    conf = parseNetConf(stdin, command);
    const env = parseEnv(command, process.env);
    const run = await COMMANDS[command]();
    const output = await run({ env, conf, note: (line) => notes.push(line) });
    if (output !== undefined) print(output);
  } catch (err) {
    const cniErr = toCniError(err, command ? `running ${command}` : 'reading the invocation', conf?.agentSocket);
    error = cniErr.toJson(conf?.cniVersion ?? peekVersion(stdin) ?? LATEST_VERSION);
    print(error);
  }
  if (conf?.logFile) {
    appendInvocationLog(conf.logFile, {
      time: new Date().toISOString(),
      command: command ?? '?',
      // Raw variables: the entry is written even when they failed validation.
      ...(process.env['CNI_CONTAINERID'] ? { containerId: process.env['CNI_CONTAINERID'] } : {}),
      ...(process.env['CNI_IFNAME'] ? { ifName: process.env['CNI_IFNAME'] } : {}),
      ...(process.env['CNI_NETNS'] ? { netns: process.env['CNI_NETNS'] } : {}),
      outcome: error ? 'error' : 'ok',
      ...(error ? { code: error.code, msg: error.msg } : {}),
      durationMs: Math.round(performance.now() - started),
      ...(notes.length > 0 ? { notes } : {}),
    });
  }
  return error ? 1 : 0;
}

process.exitCode = await main();
