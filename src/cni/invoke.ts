import { spawn } from 'node:child_process';
import { MembraneError } from '../common/errors.js';

/**
 * The runtime side of CNI: executes a plugin exactly as a container runtime
 * does (CNI_* environment, network config on stdin, result or error JSON on
 * stdout). Used by the lab and by tests; never by the plugin itself.
 */
export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'STATUS' | 'GC';

export interface CniInvocation {
  /** Absolute path of the plugin executable. */
  plugin: string;
  command: CniCommand;
  /** The network configuration given on stdin (already carrying name and cniVersion). */
  config: Record<string, unknown>;
  containerId?: string;
  netns?: string;
  ifName?: string;
  /** CNI_ARGS as key/value pairs, e.g. K8S_POD_NAMESPACE. */
  args?: Record<string, string>;
  /** CNI_PATH entries. */
  path?: string[];
  /** Run the plugin inside this network namespace (path), as a runtime living there would. */
  runtimeNetns?: string;
  timeoutMs?: number;
}

export interface CniErrorBody {
  cniVersion?: string;
  code: number;
  msg: string;
  details?: string;
}

export type CniOutcome =
  | { ok: true; exitCode: 0; output: Record<string, unknown> | undefined; stderr: string }
  | { ok: false; exitCode: number; error: CniErrorBody; stderr: string };

export function invokeCni(inv: CniInvocation): Promise<CniOutcome> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: inv.command,
    CNI_PATH: (inv.path ?? []).join(':'),
  };
  if (inv.containerId !== undefined) env['CNI_CONTAINERID'] = inv.containerId;
  if (inv.netns !== undefined) env['CNI_NETNS'] = inv.netns;
  if (inv.ifName !== undefined) env['CNI_IFNAME'] = inv.ifName;
  if (inv.args && Object.keys(inv.args).length > 0) {
    env['CNI_ARGS'] = Object.entries(inv.args).map(([k, v]) => `${k}=${v}`).join(';');
  }
  const [cmd, argv] = inv.runtimeNetns ? ['nsenter', [`--net=${inv.runtimeNetns}`, inv.plugin]] : [inv.plugin, []];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv as string[], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), inv.timeoutMs ?? 120_000);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (cause) => {
      clearTimeout(timer);
      reject(new MembraneError('EEXEC', `could not execute CNI plugin ${inv.plugin}`, { cause }));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8').trim();
      const stderr = Buffer.concat(err).toString('utf8');
      let parsed: Record<string, unknown> | undefined;
      try {
        parsed = stdout ? (JSON.parse(stdout) as Record<string, unknown>) : undefined;
      } catch {
        parsed = undefined;
      }
      if (code === 0) {
        resolve({ ok: true, exitCode: 0, output: parsed, stderr });
        return;
      }
      const error: CniErrorBody = parsed && typeof parsed['code'] === 'number'
        ? (parsed as unknown as CniErrorBody)
        : { code: 999, msg: `plugin exited ${code} without CNI error JSON`, details: (stdout + '\n' + stderr).trim() };
      resolve({ ok: false, exitCode: code ?? 1, error, stderr });
    });
    child.stdin.on('error', () => { /* plugin may not read stdin (VERSION) */ });
    child.stdin.end(JSON.stringify(inv.config));
  });
}
