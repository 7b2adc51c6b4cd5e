/**
 * The plugin binary's I/O contract, for invocations that touch no kernel
 * state (no root needed): VERSION, and errors found while parsing, which
 * must come as exactly one CNI error JSON on stdout with a non-zero exit.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MEMBRANE_CNI_BIN } from '../testing/agent.js';

function plugin(env: Record<string, string>, stdin: string): { status: number | null; stdout: string } {
  const res = spawnSync(MEMBRANE_CNI_BIN, [], { env: { PATH: process.env['PATH'], ...env }, input: stdin, encoding: 'utf8' });
  return { status: res.status, stdout: res.stdout };
}

describe('membrane-cni binary', () => {
  it('answers VERSION with the requested version, or 1.1.0', () => {
    const v = plugin({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}');
    assert.equal(v.status, 0);
    assert.deepEqual(JSON.parse(v.stdout), { cniVersion: '1.0.0', supportedVersions: ['1.0.0', '1.1.0'] });
    assert.equal(JSON.parse(plugin({ CNI_COMMAND: 'VERSION' }, '').stdout).cniVersion, '1.1.0');
  });

  it('prints one error JSON and exits non-zero for bad stdin (6), a bad version (1), a missing variable (4)', () => {
    const cases: [Record<string, string>, string, number][] = [
      [{ CNI_COMMAND: 'ADD' }, '{not json', 6],
      [{ CNI_COMMAND: 'ADD' }, '{"cniVersion":"0.3.1","name":"m","type":"membrane-cni"}', 1],
      [{ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0' }, '{"cniVersion":"1.0.0","name":"m","type":"membrane-cni"}', 4],
      [{}, '{}', 4],
    ];
    for (const [env, stdin, code] of cases) {
      const out = plugin(env, stdin);
      assert.notEqual(out.status, 0);
      const lines = out.stdout.trim().split('\n');
      assert.equal(lines.length, 1, `exactly one line on stdout: ${out.stdout}`);
      const err = JSON.parse(lines[0]!) as { code: number; msg: string; cniVersion: string };
      assert.equal(err.code, code, JSON.stringify(err));
      assert.equal(typeof err.msg, 'string');
      assert.match(err.cniVersion, /^1\.[01]\.0$/);
    }
  });

  it('logs one line per invocation to logFile, even a failed one', () => {
    const dir = mkdtempSync('/tmp/membrane-cni-log-');
    try {
      const logFile = join(dir, 'sub', 'cni.log');
      const conf = JSON.stringify({ cniVersion: '1.1.0', name: 'm', type: 'membrane-cni', logFile });
      plugin({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0' }, conf);
      const [entry] = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(entry!['command'], 'ADD');
      assert.equal(entry!['containerId'], 'c1');
      assert.equal(entry!['outcome'], 'error');
      assert.equal(entry!['code'], 4);
      assert.equal(typeof entry!['durationMs'], 'number');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
