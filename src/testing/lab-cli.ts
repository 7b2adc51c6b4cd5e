/**
 * The `membrane` CLI against one lab, for tests that drive the lab the way a
 * user does: `membrane(args)` runs it and returns the result whatever the
 * exit code; `ok(args)` asserts exit 0 and shows the output when not.
 */
import assert from 'node:assert/strict';
import { run, type RunResult } from '../common/exec.js';
import { defaultToolchain } from '../lab/toolchain.js';

export interface LabCli {
  membrane(args: string[], input?: string): Promise<RunResult>;
  ok(args: string[], input?: string): Promise<RunResult>;
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
  return { membrane, ok };
}

/** A container command that answers TCP connections on `port` with the pod's name (manifest YAML flow style). */
export const serveCommand = (port: number): string => `[sh, -c, 'exec membrane workload serve --tcp ${port} --name "$HOSTNAME"']`;
