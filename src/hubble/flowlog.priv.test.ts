/**
 * Flow history beyond the ring, live: a lab whose agent keeps a tiny ring
 * (32 flows) and writes a flow log rotated every 100 KB. After enough real
 * traffic to wrap the ring many times, `membrane observe --since <start>`
 * (CLI, REST) and gRPC GetFlows with `since` return the early flows from
 * the log and then the ring's: the same flows as the log holds, in its
 * order, none twice, none missing. Status and Prometheus count the log.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { StatusModel } from '../api/types.js';
import { run } from '../common/exec.js';
import { labCli, serveCommand } from '../testing/lab-cli.js';
import { requireRoot, uniqueName } from '../testing/names.js';
import { readLabState } from '../lab/state.js';
import { defaultToolchain } from '../lab/toolchain.js';
import type { Flow } from './flow.js';
import { flowLogFiles } from './flowlog.js';
import { parseFlowLine } from './flowlog-read.js';
import { PROTO_DIR } from './grpc/proto.js';

const RING = 32;

const PODS = `apiVersion: v1
kind: Pod
metadata: {name: echo, labels: {app: echo}}
spec:
  containers:
  - {name: c, image: agnhost, command: ${serveCommand(8080)}, readinessProbe: {tcpSocket: {port: 8080}}}
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec: {containers: [{name: c, image: alpine-curl}]}
`;

type Msg = Record<string, any>;

/** The flows of the log on disk, oldest first. */
async function loggedFlows(logPath: string): Promise<Flow[]> {
  const out: Flow[] = [];
  for (const file of await flowLogFiles(logPath)) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const f = parseFlowLine(line);
      if (f) out.push(f);
    }
  }
  return out;
}

function getFlows(address: string, req: Msg): Promise<Msg[]> {
  const def = protoLoader.loadSync('observer/observer.proto', { includeDirs: [PROTO_DIR], keepCase: true, enums: String, longs: String, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as any;
  const client = new pkg.observer.Observer(address, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    const out: Msg[] = [];
    const call = client['GetFlows'](req, { deadline: Date.now() + 30_000 });
    call.on('data', (r: Msg) => out.push(r));
    call.on('error', (e: Error) => { client.close(); reject(e); });
    call.on('end', () => { client.close(); resolve(out); });
  });
}

describe('flow history beyond the ring (privileged, lab with a flow log)', () => {
  const lab = uniqueName('fl');
  const dir = mkdtempSync('/tmp/membrane-flowlog-priv-');
  const logPath = path.join(dir, 'hubble', 'flows.log');
  const { membrane, ok } = labCli(lab);
  let echoIp = '';
  let start = '';
  let firstBatchEnd = 0;

  const probe = (count: number) =>
    ok(['lab', 'exec', 'client', '--', 'membrane', 'workload', 'probe', '--timeout', '3s', ...Array.from({ length: count }, () => ['--to', `${echoIp}:8080`]).flat()]);
  const observeJson = async (args: string[]): Promise<Flow[]> =>
    (await ok(['observe', '-o', 'json', ...args])).stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { flow: Flow }).flow);
  /** The log's flows at or after `since`, as the replay selects them. */
  const loggedSince = async (since: string) => (await loggedFlows(logPath)).filter((f) => Date.parse(f.time) >= Date.parse(since));
  /** `got` is the log's flows from the start, in order: later flows (probes, DNS) may have come after it was read. */
  const assertLogPrefix = (got: Flow[], logged: Flow[], what: string) => {
    const ids = got.map((f) => f.uuid);
    assert.equal(new Set(ids).size, ids.length, `${what}: no flow twice`);
    assert.deepEqual(ids, logged.slice(0, ids.length).map((f) => f.uuid), `${what}: the log's flows in its order, none missing`);
  };

  before(async () => {
    requireRoot();
    await ok(['lab', 'up', `--agent-arg=--flow-buffer-size=${RING}`, `--agent-arg=--hubble-export-file-path=${logPath}`,
      '--agent-arg=--hubble-export-file-max-size-mb=0.1', '--agent-arg=--hubble-export-file-max-backups=100']);
    await ok(['lab', 'apply', '-f', '-'], PODS);
    const pods = JSON.parse((await ok(['lab', 'get', 'pods', '-o', 'json'])).stdout) as { name: string; ip: string }[];
    echoIp = pods.find((p) => p.name === 'echo')!.ip;
    start = new Date().toISOString();
    await probe(3);
    firstBatchEnd = Date.now();
    // Enough connections to wrap a 32-flow ring many times and rotate the log.
    for (let i = 0; i < 2; i++) await probe(50);
  });

  after(async () => {
    await membrane(['lab', 'down']);
    rmSync(dir, { recursive: true, force: true });
  });

  it('the agent wrote the log, rotated it, and counts it in status and Prometheus', async () => {
    const status = JSON.parse((await ok(['status', '-o', 'json'])).stdout) as StatusModel;
    assert.equal(status.flows.max, RING);
    assert.ok(status.flows.seen > RING * 10, `the ring wrapped: ${status.flows.seen} flows seen`);
    assert.equal(status.flows.export?.path, logPath);
    assert.ok((status.flows.export?.written ?? 0) >= status.flows.seen - RING, JSON.stringify(status.flows));
    assert.equal(status.flows.export?.dropped, 0);
    assert.match((await ok(['status'])).stdout, new RegExp(`^Flow log: +${logPath.replace(/[.]/g, '\\.')}: written \\d+, dropped 0$`, 'm'));
    assert.ok((await flowLogFiles(logPath)).length > 1, 'the log was rotated');
    const netns = readLabState(lab)!.nodes[0]!.netns;
    const metrics = (await run('ip', ['netns', 'exec', netns, 'curl', '-sS', '--fail', '--max-time', '5', 'http://127.0.0.1:9962/metrics'])).stdout;
    assert.match(metrics, /^membrane_flow_export_dropped_total 0$/m);
    assert.ok(Number(/^membrane_flow_export_written_total (\d+)$/m.exec(metrics)?.[1]) > 0, 'membrane_flow_export_written_total counts');
  });

  it('observe --since <start> (CLI, REST) returns the early flows from the log, then the ring: every flow once', async () => {
    const ring = await observeJson(['--all']);
    assert.equal(ring.length, RING);
    assert.ok(Date.parse(ring[0]!.time) > firstBatchEnd, 'the first probes are no longer in the ring');

    const got = await observeJson(['--since', start]);
    const logged = await loggedSince(start);
    assert.ok(got.length > RING * 10, `${got.length} flows since the start`);
    assert.ok(got.some((f) => Date.parse(f.time) <= firstBatchEnd && f.destination?.pod_name === 'echo'), `the first probes' flows are there (until ${new Date(firstBatchEnd).toISOString()}): ${JSON.stringify(got.slice(0, 3))}`);
    assertLogPrefix(got, logged, 'observe --since');
    // The replay ends with the ring (as it was when asked).
    const ids = got.map((f) => f.uuid);
    assert.ok(ids.includes(ring[ring.length - 1]!.uuid));

    const firstFive = await observeJson(['--since', start, '--first', '5']);
    assert.deepEqual(firstFive.map((f) => f.uuid), logged.slice(0, 5).map((f) => f.uuid));
    const toEcho = await observeJson(['--since', start, '--to-port', '8080', '--first', '3']);
    assert.deepEqual(toEcho.map((f) => f.uuid), logged.filter((f) => f.l4?.TCP?.destination_port === 8080).slice(0, 3).map((f) => f.uuid));
  });

  it('gRPC GetFlows with since returns the same history', async () => {
    const socket = readLabState(lab)!.nodes[0]!.socket;
    const sinceMs = Date.parse(start);
    const responses = await getFlows(`unix://${path.join(path.dirname(socket), 'hubble.sock')}`, {
      since: { seconds: Math.floor(sinceMs / 1000), nanos: (sinceMs % 1000) * 1e6 },
    });
    const flows = responses.filter((r) => r['flow']).map((r) => r['flow'] as Msg);
    const logged = await loggedSince(start);
    assert.ok(flows.length > RING * 10, `${flows.length} flows`);
    const ids = flows.map((f) => f['uuid'] as string);
    assert.equal(new Set(ids).size, ids.length, 'no flow twice');
    assert.deepEqual(ids, logged.slice(0, ids.length).map((f) => f.uuid));
  });

  it('observe --input-file reads a log file itself, with filters, no agent needed', async () => {
    // A copy: the agent goes on writing the original.
    const copy = path.join(dir, 'copy.log');
    copyFileSync((await flowLogFiles(logPath)).at(-2)!, copy);
    const forwarded = readFileSync(copy, 'utf8').split('\n').map(parseFlowLine).filter((f): f is Flow => f?.verdict === 'FORWARDED');
    const res = await run(defaultToolchain().membrane, ['observe', '--input-file', copy, '--verdict', 'FORWARDED', '--last', '4', '-o', 'json']);
    const got = res.stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { flow: Flow }).flow.uuid);
    assert.deepEqual(got, forwarded.slice(-4).map((f) => f.uuid));
  });
});
