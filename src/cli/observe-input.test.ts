/**
 * `membrane observe --input-file`: a flow log, Hubble exporter output or
 * flow JSON lines read locally, with every filter and selection flag and
 * output format, no agent involved.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { MembraneError } from '../common/errors.js';
import type { Flow } from '../hubble/flow.js';
import { flowLogLine } from '../hubble/flowlog.js';
import { registerObserveCommand } from './observe.js';

const T0 = Date.UTC(2024, 2, 14, 9);
function flowN(n: number, over: Partial<Flow> = {}): Flow {
  return {
    time: new Date(T0 + n * 1000).toISOString(), uuid: `f${n}`, verdict: n % 2 === 0 ? 'DROPPED' : 'FORWARDED',
    IP: { source: '10.244.1.10', destination: `10.244.1.${20 + n}`, ipVersion: 'IPv4' },
    source: { identity: 257, namespace: 'default', pod_name: 'tiefighter', labels: ['k8s:class=tiefighter'] },
    destination: { identity: 256, namespace: 'default', pod_name: 'deathstar', labels: ['k8s:class=deathstar'] },
    Type: 'L3_L4', node_name: 'node-1', event_type: { type: 5 }, traffic_direction: 'INGRESS', Summary: '', ...over,
  };
}

const root = mkdtempSync(path.join(tmpdir(), 'membrane-observe-input-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** Flows 1..10: our log lines (1-4), Hubble's with node and time beside the flow (5-7), plain flow JSON (8-10), and lines that are no flows. */
const file = path.join(root, 'flows.log');
writeFileSync(file, [
  ...[1, 2, 3, 4].map((n) => flowLogLine(flowN(n))),
  ...[5, 6, 7].map((n) => {
    const { node_name, time, ...rest } = flowN(n);
    return JSON.stringify({ flow: rest, node_name, time }) + '\n';
  }),
  '{"lost_events":{"source":"HUBBLE_RING_BUFFER","num_events_lost":2},"node_name":"node-1"}\n',
  '\n',
  ...[8, 9, 10].map((n) => JSON.stringify(flowN(n)) + '\n'),
  '{"flow":{"uuid":"cut-short',
].join(''));

async function observe(argv: string[]): Promise<string> {
  const program = new Command().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  registerObserveCommand(program, async () => { throw new Error('--input-file must not reach the agent'); });
  let out = '';
  const write = process.stdout.write;
  // Only the command's text: the test runner's own reports (bytes) go on through, as the read is asynchronous.
  process.stdout.write = ((s: string | Uint8Array, ...rest: unknown[]) => {
    if (typeof s !== 'string') return (write as (...a: unknown[]) => boolean).call(process.stdout, s, ...rest);
    out += s;
    return true;
  }) as typeof process.stdout.write;
  try {
    await program.parseAsync(['node', 'membrane', 'observe', '--input-file', file, ...argv]);
  } finally {
    process.stdout.write = write;
  }
  return out;
}
const uuidsOut = (out: string) => out.trimEnd().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { flow: Flow }).flow.uuid);

describe('observe --input-file', () => {
  it('reads every kind of flow line, skipping other events and broken lines; --all prints them in order', async () => {
    assert.deepEqual(uuidsOut(await observe(['--all', '-o', 'json'])), ['f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7', 'f8', 'f9', 'f10']);
  });

  it('applies the filter flags, --not and raw lists locally', async () => {
    assert.deepEqual(uuidsOut(await observe(['--all', '-o', 'json', '--verdict', 'DROPPED'])), ['f2', 'f4', 'f6', 'f8', 'f10']);
    assert.deepEqual(uuidsOut(await observe(['--all', '-o', 'json', '--not', '--verdict', 'DROPPED', '--to-ip', '10.244.1.27'])), ['f7']);
    assert.deepEqual(uuidsOut(await observe(['--all', '-o', 'json', '--denylist', '{"uuid":["f1","f3"]}', '--from-pod', 'default/tiefighter', '--verdict', 'forwarded'])),
      ['f5', 'f7', 'f9']);
  });

  it('selects like the agent: the last 20 by default, --last, --first, and --since/--until (all flows in range)', async () => {
    assert.equal(uuidsOut(await observe(['-o', 'json'])).length, 10);
    assert.deepEqual(uuidsOut(await observe(['-o', 'json', '--last', '3'])), ['f8', 'f9', 'f10']);
    assert.deepEqual(uuidsOut(await observe(['-o', 'json', '--first', '2', '--verdict', 'DROPPED'])), ['f2', 'f4']);
    const iso = (n: number) => new Date(T0 + n * 1000).toISOString();
    assert.deepEqual(uuidsOut(await observe(['-o', 'json', '--since', iso(4), '--until', iso(7)])), ['f4', 'f5', 'f6', 'f7']);
    assert.deepEqual(uuidsOut(await observe(['-o', 'json', '--since', iso(4), '--last', '2'])), ['f9', 'f10']);
  });

  it('prints every output format', async () => {
    const compact = await observe(['--last', '1']);
    assert.match(compact, /^Mar 14 09:00:10\.000: default\/tiefighter \(ID:257\) .*default\/deathstar \(ID:256\) policy-verdict:none INGRESS DENIED/);
    assert.match(await observe(['--last', '1', '-o', 'dict']), /TIMESTAMP: /);
    assert.match(await observe(['--last', '2', '-o', 'table']), /^TIMESTAMP +SOURCE +DESTINATION/);
  });

  it('names the file it cannot read', async () => {
    const program = new Command().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
    registerObserveCommand(program, async () => { throw new Error('unreachable'); });
    await assert.rejects(program.parseAsync(['node', 'membrane', 'observe', '--input-file', path.join(root, 'missing.log')]), (err: unknown) => {
      assert.ok(err instanceof MembraneError && err.code === 'EINVAL');
      assert.match(err.message, /^--input-file: cannot read ".*missing\.log" \(ENOENT\)/);
      return true;
    });
  });
});
