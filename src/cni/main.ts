/**
 * membrane-cni: the CNI plugin container runtimes execute (spec 1.0.0 and
 * 1.1.0). This file is only the command table and the spec's I/O contract:
 * stdin and CNI_* are parsed and validated up front, the command runs, and
 * stdout gets exactly one thing: the result (ADD, VERSION), nothing (DEL,
 * CHECK, STATUS, GC) or the CNI error JSON with a non-zero exit.
 *
 * The plugin is on every pod's start-up path: each command's module (and
 * the agent client) is imported only when that command runs, and starts
 * loading (CNI_COMMAND tells which) while stdin is still being read.
 */
import { fstatSync, readSync } from 'node:fs';
import type { CommandHandler } from './command.js';
import { LATEST_VERSION, SUPPORTED_VERSIONS, parseCommand, parseEnv, parseNetConf, peekVersion, versionToAnswer,
  type CniCommand, type NetConf } from './config.js';
import { toCniError, type CniErrorJson } from './errors.js';

const COMMANDS: Record<Exclude<CniCommand, 'VERSION'>, () => Promise<CommandHandler>> = {
  ADD: async () => (await import('./add.js')).cmdAdd,
  DEL: async () => (await import('./del.js')).cmdDel,
  CHECK: async () => (await import('./check.js')).cmdCheck,
  STATUS: async () => (await import('./status.js')).cmdStatus,
  GC: async () => (await import('./gc.js')).cmdGc,
};

/**
 * The network configuration. Runtimes write it to a pipe and close it, so
 * one blocking read is enough and cheaper than a stream; a non-blocking
 * stdin (EAGAIN) falls back to the stream. A character device (a terminal,
 * /dev/null) gives nothing: a read could wait forever. (Not tty.isatty:
 * node:tty loads node:net, 2 ms of every VERSION.)
 */
async function readStdin(): Promise<string> {
  if (fstatSync(0).isCharacterDevice()) return '';
  // Blocking reads until the end; what was read before an EAGAIN is kept for the stream to go on from.
  const chunks: Buffer[] = [];
  const buf = Buffer.allocUnsafe(64 * 1024);
  try {
    for (;;) {
      const n = readSync(0, buf, 0, buf.length, null);
      if (n === 0) return Buffer.concat(chunks).toString('utf8');
      chunks.push(Buffer.from(buf.subarray(0, n)));
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
  }
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function print(obj: object): void {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

async function main(): Promise<number> {
  // performance.now() counts from the process's start: this is Node's start-up.
  const startupMs = performance.now();
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
  let stdin = '';
  let command: CniCommand | undefined;
  let conf: NetConf | undefined;
  let error: CniErrorJson | undefined;
  try {
    command = parseCommand(process.env);
    const handler = command === 'VERSION' ? undefined : COMMANDS[command]();
    // Awaited below; until then a failed import must not count as unhandled.
    handler?.catch(() => undefined);
    stdin = await readStdin();
    // VERSION needs no configuration, only the version the runtime speaks.
    if (command === 'VERSION') {
      print({ cniVersion: versionToAnswer(stdin), supportedVersions: [...SUPPORTED_VERSIONS] });
      return 0;
    }
    conf = parseNetConf(stdin, command);
    const env = parseEnv(command, process.env);
    const run = await handler!;
    const output = await run({ env, conf, note: (line) => notes.push(line), timed });
    if (output !== undefined) print(output);
  } catch (err) {
    if (command === undefined) stdin = await readStdin().catch(() => '');
    const cniErr = toCniError(err, command ? `running ${command}` : 'reading the invocation', conf?.agentSocket);
    error = cniErr.toJson(conf?.cniVersion ?? peekVersion(stdin) ?? LATEST_VERSION);
    print(error);
  }
  if (conf?.logFile) {
    const { appendInvocationLog } = await import('./log.js');
    appendInvocationLog(conf.logFile, {
      time: new Date().toISOString(),
      command: command ?? '?',
      // Raw variables: the entry is written even when they failed validation.
      ...(process.env['CNI_CONTAINERID'] ? { containerId: process.env['CNI_CONTAINERID'] } : {}),
      ...(process.env['CNI_IFNAME'] ? { ifName: process.env['CNI_IFNAME'] } : {}),
      ...(process.env['CNI_NETNS'] ? { netns: process.env['CNI_NETNS'] } : {}),
      outcome: error ? 'error' : 'ok',
      ...(error ? { code: error.code, msg: error.msg } : {}),
      durationMs: Math.round(performance.now()),
      startupMs: Math.round(startupMs),
      ...(Object.keys(stepsMs).length > 0 ? { stepsMs } : {}),
      ...(notes.length > 0 ? { notes } : {}),
    });
  }
  return error ? 1 : 0;
}

process.exitCode = await main();
