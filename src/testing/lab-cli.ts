/**
 * The `membrane` CLI against one lab, for tests that drive the lab the way a
 * user does: `membrane(args)` runs it and returns the result whatever the
 * exit code; `ok(args)` asserts exit 0 and shows the output when not;
 * `podIp` and `reach` ask the lab for a pod's address and probe targets from
 * a pod with `membrane workload probe`.
 */
import assert from 'node:assert/strict';
import { run, type RunResult } from '../common/exec.js';
import { defaultToolchain } from '../lab/toolchain.js';

export interface LabCli {
  membrane(args: string[], input?: string): Promise<RunResult>;
  ok(args: string[], input?: string): Promise<RunResult>;
  /** The IP of pod `name` of namespace `ns`. */
  podIp(ns: string, name: string): Promise<string>;
  /** Whether pod `from` (NS/NAME) reaches each TCP target (HOST:PORT), in the order given; 2 s per target, all at once. */
  reach(from: string, ...targets: string[]): Promise<boolean[]>;
}

export function labCli(lab: string, timeoutMs = 300_000): LabCli {
  const bin = defaultToolchain().membrane;
  const membrane = (args: string[], input?: string): Promise<RunResult> =>
    run(bin, ['--lab', lab, ...args], { allowFailure: true, timeoutMs, ...(input !== undefined ? { input } : {}) });
  const ok = async (args: string[], input?: string): Promise<RunResult> => {
    const res = await membrane(args, input);
    assert.equal(res.code, 0, `membrane ${args.join(' ')} exited ${res.code}:\n${res.stdout}\n${res.stderr}`);
    return res;
  };
  const podIp = async (ns: string, name: string): Promise<string> => {
    const list = JSON.parse((await ok(['lab', 'get', 'pods', '-n', ns, '-o', 'json'])).stdout) as { name: string; ip: string }[];
    const pod = list.find((p) => p.name === name);
    assert.ok(pod, `no pod ${ns}/${name} in lab ${lab}`);
    return pod.ip;
  };
  const reach = async (from: string, ...targets: string[]): Promise<boolean[]> => {
    const res = await membrane(['lab', 'exec', from, '--', 'membrane', 'workload', 'probe', '--timeout', '2s', '-o', 'json', ...targets.flatMap((t) => ['--to', t])]);
    const results = res.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { target: string; ok: boolean });
    return targets.map((t) => results.find((r) => r.target === t)?.ok ?? false);
  };
  return { membrane, ok, podIp, reach };
}

/** A container command that answers TCP connections on `port` with the pod's name (manifest YAML flow style). */
export const serveCommand = (port: number): string => `[sh, -c, 'exec membrane workload serve --tcp ${port} --name "$HOSTNAME"']`;
