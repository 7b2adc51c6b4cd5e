/** The on-disk flow log: lines, rotation, backups, export filters, drop-and-count, snapshots and the agent's flags. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MembraneError } from '../common/errors.js';
import type { Flow } from './flow.js';
import { FlowLogWriter, flowLogFiles, flowLogLine, flowLogOptionsFromFlags } from './flowlog.js';
import { fileTimeRange, flowsOfFile, parseFlowLine } from './flowlog-read.js';

const T0 = Date.UTC(2024, 2, 14, 9);

/** Flow n: uuid "f<n>", n ms after T0; DROPPED when n is a multiple of 10. */
function flowN(n: number, over: Partial<Flow> = {}): Flow {
  return {
    time: new Date(T0 + n).toISOString(), uuid: `f${n}`, verdict: n % 10 === 0 ? 'DROPPED' : 'FORWARDED',
    IP: { source: '10.244.1.10', destination: '10.244.1.20', ipVersion: 'IPv4' }, source: { identity: 257 }, destination: { identity: 256 },
    Type: 'L3_L4', node_name: 'node-1', event_type: { type: 5 }, traffic_direction: 'INGRESS', Summary: '', ...over,
  };
}

const root = mkdtempSync(path.join(tmpdir(), 'membrane-flowlog-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const logPath = () => path.join(root, `d${++dirs}`, 'flows.log');
const uuidsOf = (file: string) => readFileSync(file, 'utf8').trimEnd().split('\n').filter(Boolean).map((l) => parseFlowLine(l)!.uuid);
/** Flows 100..999 as lines of one length, for sizes counted in lines. */
const sized = (n: number) => flowN(n, { verdict: 'FORWARDED' });
const LINE_BYTES = Buffer.byteLength(flowLogLine(sized(100)));

describe('flow log lines', () => {
  it("are Hubble's exporter objects {flow, node_name, time}, one a line, read back as the same flow", () => {
    const f = flowN(1);
    const line = flowLogLine(f);
    assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'));
    assert.deepEqual(JSON.parse(line), { flow: f, node_name: 'node-1', time: f.time });
    assert.deepEqual(parseFlowLine(line), f);
  });

  it('reads plain flow JSON lines and Hubble lines whose node and time sit beside the flow; skips other events and broken lines', () => {
    const f = flowN(2);
    assert.deepEqual(parseFlowLine(JSON.stringify(f)), f);
    const { node_name: _n, time: _t, ...bare } = f;
    assert.deepEqual(parseFlowLine(JSON.stringify({ flow: bare, node_name: 'node-9', time: f.time })), { ...bare, node_name: 'node-9', time: f.time });
    assert.equal(parseFlowLine('{"lost_events":{"source":"HUBBLE_RING_BUFFER","num_events_lost":3}}'), undefined);
    assert.equal(parseFlowLine('{"flow":{"uuid":"x","tim'), undefined);
    assert.equal(parseFlowLine(''), undefined);
  });
});

describe('FlowLogWriter', () => {
  it('writes every flow in order, in batches, and counts them', async () => {
    const p = logPath();
    const w = await FlowLogWriter.open({ path: p, maxSizeBytes: 10 * 1024 * 1024, maxBackups: 5 });
    for (let n = 1; n <= 500; n++) w.onFlow(flowN(n));
    await w.flush();
    assert.deepEqual(uuidsOf(p), Array.from({ length: 500 }, (_, i) => `f${i + 1}`));
    assert.deepEqual(w.stats, { path: p, written: 500, dropped: 0 });
    await w.close();
  });

  it('rotates before a line would pass the size: <path>.1 newest, at most maxBackups kept, the oldest deleted', async () => {
    const p = logPath();
    const perFile = 10;
    const w = await FlowLogWriter.open({ path: p, maxSizeBytes: perFile * LINE_BYTES, maxBackups: 3 });
    // 100..199 all have lines of the same length: 10 files' worth.
    for (let n = 100; n < 200; n++) w.onFlow(sized(n));
    await w.close();
    const files = await flowLogFiles(p);
    assert.deepEqual(files, [`${p}.3`, `${p}.2`, `${p}.1`, p]);
    for (const f of files) assert.ok(statSync(f).size <= perFile * LINE_BYTES, `${f} is within the size`);
    // The newest 40 flows survive, oldest file first, without a gap.
    assert.deepEqual(files.flatMap(uuidsOf), Array.from({ length: 40 }, (_, i) => `f${160 + i}`));
  });

  it('with maxBackups 0 keeps the current file only', async () => {
    const p = logPath();
    const w = await FlowLogWriter.open({ path: p, maxSizeBytes: 10 * LINE_BYTES, maxBackups: 0 });
    for (let n = 100; n < 135; n++) w.onFlow(sized(n));
    await w.close();
    assert.deepEqual(await flowLogFiles(p), [p]);
    assert.deepEqual(uuidsOf(p), Array.from({ length: 5 }, (_, i) => `f${130 + i}`));
  });

  it('appends to an existing log after a restart, and removes backups past a lowered maxBackups', async () => {
    const p = logPath();
    let w = await FlowLogWriter.open({ path: p, maxSizeBytes: 5 * LINE_BYTES, maxBackups: 4 });
    assert.equal(w.startedOnEarlierFlows, false);
    for (let n = 100; n < 120; n++) w.onFlow(sized(n));
    await w.close();
    assert.equal((await flowLogFiles(p)).length, 4);
    w = await FlowLogWriter.open({ path: p, maxSizeBytes: 5 * LINE_BYTES, maxBackups: 1 });
    assert.equal(w.startedOnEarlierFlows, true);
    assert.deepEqual(await flowLogFiles(p), [`${p}.1`, p]);
    w.onFlow(sized(120));
    await w.close();
    assert.deepEqual([...uuidsOf(`${p}.1`), ...uuidsOf(p)], ['f110', 'f111', 'f112', 'f113', 'f114', 'f115', 'f116', 'f117', 'f118', 'f119', 'f120'].slice(-6));
  });

  it('writes only flows of the allowlist that the denylist does not catch', async () => {
    const p = logPath();
    const w = await FlowLogWriter.open({
      path: p, maxSizeBytes: 1 << 20, maxBackups: 1, allowlist: [{ verdict: ['DROPPED'] }, { source_identity: [999] }], denylist: [{ uuid: ['f20'] }],
    });
    for (let n = 1; n <= 40; n++) w.onFlow(flowN(n, n === 5 ? { source: { identity: 999 } } : {}));
    await w.close();
    assert.deepEqual(uuidsOf(p), ['f5', 'f10', 'f30', 'f40']);
    assert.deepEqual(w.stats.dropped, 0, 'filtered flows are not drops');
  });

  it('never makes the pipeline wait: past maxPendingFlows waiting for the disk, flows are dropped and counted', async () => {
    const p = logPath();
    const w = await FlowLogWriter.open({ path: p, maxSizeBytes: 1 << 20, maxBackups: 1, maxPendingFlows: 25 });
    // One synchronous burst, as one event batch: nothing can be written before it ends.
    for (let n = 1; n <= 100; n++) w.onFlow(flowN(n));
    assert.equal(w.stats.dropped, 75);
    await w.flush();
    assert.deepEqual(w.stats, { path: p, written: 25, dropped: 75 });
    assert.deepEqual(uuidsOf(p), Array.from({ length: 25 }, (_, i) => `f${i + 1}`));
    // Once drained, there is room again.
    w.onFlow(flowN(101));
    await w.close();
    assert.equal(w.stats.written, 26);
  });

  it('counts a failed write as dropped, reports it, and writes again once the file can be made', async () => {
    const p = logPath();
    const errors: string[] = [];
    const w = await FlowLogWriter.open({ path: p, maxSizeBytes: 2 * LINE_BYTES, maxBackups: 1, onError: (e) => errors.push(e.message) });
    w.onFlow(sized(100));
    await w.flush();
    // The directory goes away: the next rotation cannot reopen the file.
    rmSync(path.dirname(p), { recursive: true });
    for (let n = 101; n < 104; n++) w.onFlow(sized(n));
    await w.flush();
    assert.ok(w.stats.dropped > 0, JSON.stringify(w.stats));
    assert.match(errors[0] ?? '', /flow log .*flows\.log: writing \d+ flows failed, they are dropped/);
    const { written } = w.stats;
    mkdirSync(path.dirname(p));
    w.onFlow(sized(104));
    await w.close();
    assert.equal(w.stats.written, written + 1);
    assert.deepEqual(uuidsOf(p), ['f104']);
  });

  it('refuses to open where the file cannot be made, naming the path', async () => {
    const file = path.join(root, 'a-file');
    writeFileSync(file, 'x');
    await assert.rejects(FlowLogWriter.open({ path: path.join(file, 'flows.log'), maxSizeBytes: 1024, maxBackups: 1 }), (err: unknown) => {
      assert.ok(err instanceof MembraneError && err.code === 'EINVAL');
      assert.match(err.message, /a-file\/flows\.log: cannot open it for writing/);
      return true;
    });
  });

  it('a snapshot keeps reading what was there at its instant, through later writes and rotations, and lists queued flows', async () => {
    const p = logPath();
    const w = await FlowLogWriter.open({ path: p, maxSizeBytes: 10 * LINE_BYTES, maxBackups: 5 });
    for (let n = 100; n < 115; n++) w.onFlow(sized(n));
    await w.flush();
    w.onFlow(sized(115));
    let seamCalls = 0;
    const snap = await w.snapshot(() => ++seamCalls);
    assert.equal(snap.value, 1);
    assert.deepEqual(snap.pending.map((f) => f.uuid), ['f115']);
    for (let n = 116; n < 160; n++) w.onFlow(sized(n));
    await w.flush();
    const read: string[] = [];
    for (const file of snap.files) for await (const f of flowsOfFile(file.handle, file.size)) read.push(f.uuid);
    assert.deepEqual(read, Array.from({ length: 15 }, (_, i) => `f${100 + i}`));
    const range = await fileTimeRange(snap.files[0]!.handle, snap.files[0]!.size);
    assert.deepEqual(range, { firstMs: T0 + 100, lastMs: T0 + 109 });
    await snap.release();
    await w.close();
  });
});

describe('--hubble-export-* flags', () => {
  const rejects = (flags: Parameters<typeof flowLogOptionsFromFlags>[0], flag: string, message: RegExp) => {
    assert.throws(() => flowLogOptionsFromFlags(flags), (err: unknown) => {
      assert.ok(err instanceof MembraneError && err.code === 'EINVAL', String(err));
      assert.ok(err.message.startsWith(flag), err.message);
      assert.match(err.message, message);
      return true;
    });
  };

  it('are off without a file path, with defaults of 10 MB and 5 backups, and take JSON FlowFilter arrays (or one filter)', () => {
    assert.equal(flowLogOptionsFromFlags({}), undefined);
    assert.deepEqual(flowLogOptionsFromFlags({ hubbleExportFilePath: '/var/run/membrane/hubble/events.log' }),
      { path: '/var/run/membrane/hubble/events.log', maxSizeBytes: 10 * 1024 * 1024, maxBackups: 5 });
    assert.deepEqual(flowLogOptionsFromFlags({
      hubbleExportFilePath: '/tmp/f.log', hubbleExportFileMaxSizeMb: '0.5', hubbleExportFileMaxBackups: '0',
      hubbleExportAllowlist: '[{"verdict":["DROPPED"]},{"source_pod":["default/"]}]', hubbleExportDenylist: '{"destination_port":["53"]}',
    }), {
      path: '/tmp/f.log', maxSizeBytes: 512 * 1024, maxBackups: 0,
      allowlist: [{ verdict: ['DROPPED'] }, { source_pod: ['default/'] }], denylist: [{ destination_port: ['53'] }],
    });
  });

  it('refuse bad values, naming the flag', () => {
    rejects({ hubbleExportFilePath: '/tmp/f.log', hubbleExportFileMaxSizeMb: '0' }, '--hubble-export-file-max-size-mb', /"0" is not a positive number of megabytes/);
    rejects({ hubbleExportFilePath: '/tmp/f.log', hubbleExportFileMaxSizeMb: 'ten' }, '--hubble-export-file-max-size-mb', /"ten"/);
    rejects({ hubbleExportFilePath: '/tmp/f.log', hubbleExportFileMaxBackups: '-1' }, '--hubble-export-file-max-backups', /"-1" is not a whole number/);
    rejects({ hubbleExportFilePath: '/tmp/f.log', hubbleExportFileMaxBackups: '2.5' }, '--hubble-export-file-max-backups', /whole number/);
    rejects({ hubbleExportFilePath: '/tmp/f.log', hubbleExportAllowlist: '[{verdict}]' }, '--hubble-export-allowlist', /is not JSON/);
    rejects({ hubbleExportFilePath: '/tmp/f.log', hubbleExportDenylist: '[{"verdict":["DROPPED"]},{"colour":["red"]}]' }, '--hubble-export-denylist[1]', /unknown field\(s\) colour/);
    rejects({ hubbleExportFilePath: '/tmp/dir/' }, '--hubble-export-file-path', /is a directory/);
  });

  it('refuse the size, backups or lists without a file path (they would do nothing)', () => {
    rejects({ hubbleExportFileMaxBackups: '3' }, '--hubble-export-file-max-backups', /needs --hubble-export-file-path/);
    rejects({ hubbleExportAllowlist: '[]' }, '--hubble-export-allowlist', /needs --hubble-export-file-path/);
  });
});
