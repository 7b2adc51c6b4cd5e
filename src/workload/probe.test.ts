import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { ValidationError } from '../common/errors.js';
import {
  formatProbeResult, formatTarget, parseProbeFlags, parseProtocol, parseTarget, parseTimeout,
  probeAll, probeTcp, probeUdp, type ProbeResult,
} from './probe.js';
import { startNameServer, type NameServer } from './serve.js';
import { run } from '../common/exec.js';

const isValidation = (flag: string) => (err: unknown) => err instanceof ValidationError && err.code === 'EINVAL' && err.message.startsWith(`${flag}: `);

describe('workload probe flags', () => {
  it('takes tcp or udp as --protocol', () => {
    assert.equal(parseProtocol('tcp'), 'tcp');
    assert.equal(parseProtocol('UDP'), 'udp');
    assert.throws(() => parseProtocol('sctp'), isValidation('--protocol'));
  });

  it('takes --timeout as 500ms, 1s or 2.5s', () => {
    assert.equal(parseTimeout('500ms'), 500);
    assert.equal(parseTimeout('1s'), 1000);
    assert.equal(parseTimeout('2.5s'), 2500);
    for (const bad of ['1', '1m', 's', '-1s', '0s', '0ms', '1 s', '', '3601s']) assert.throws(() => parseTimeout(bad), isValidation('--timeout'), bad);
  });

  it('takes --to as HOST:PORT, IPv6 in brackets', () => {
    assert.deepEqual(parseTarget('10.0.0.1:80'), { host: '10.0.0.1', port: 80 });
    assert.deepEqual(parseTarget('[fd00::1]:8080'), { host: 'fd00::1', port: 8080 });
    assert.deepEqual(parseTarget('deathstar.empire.svc:80'), { host: 'deathstar.empire.svc', port: 80 });
    for (const bad of ['10.0.0.1', '10.0.0.1:0', '10.0.0.1:65536', 'fd00::1:80', '[10.0.0.1]:80', ':80', '10.0.0.1:http', 'a_b:80', '[fd00::1]']) {
      assert.throws(() => parseTarget(bad), isValidation('--to'), bad);
    }
    assert.equal(formatTarget({ host: 'fd00::1', port: 80 }), '[fd00::1]:80');
    assert.equal(formatTarget({ host: '10.0.0.1', port: 80 }), '10.0.0.1:80');
  });

  it('validates every flag before probing, and needs at least one --to', () => {
    const ok = { protocol: 'udp', timeout: '500ms', to: ['10.0.0.1:80', '10.0.0.2:81'], output: 'json' };
    assert.deepEqual(parseProbeFlags(ok), {
      protocol: 'udp', timeoutMs: 500, output: 'json',
      targets: [{ host: '10.0.0.1', port: 80 }, { host: '10.0.0.2', port: 81 }],
    });
    assert.throws(() => parseProbeFlags({ ...ok, to: [] }), isValidation('--to'));
    assert.throws(() => parseProbeFlags({ ...ok, to: ['10.0.0.1:80', 'x'] }), isValidation('--to'));
    assert.throws(() => parseProbeFlags({ ...ok, output: 'yaml' }), isValidation('--output'));
  });

  it('prints "HOST:PORT ok NAME", "HOST:PORT fail ERROR", or one JSON object per line', () => {
    const ok: ProbeResult = { target: '10.0.0.1:80', protocol: 'tcp', ok: true, response: 'x-a', error: null, durationMs: 3 };
    const fail: ProbeResult = { target: '10.0.0.1:81', protocol: 'tcp', ok: false, response: null, error: 'timeout', durationMs: 1000 };
    assert.equal(formatProbeResult(ok, 'text'), '10.0.0.1:80 ok x-a');
    assert.equal(formatProbeResult(fail, 'text'), '10.0.0.1:81 fail timeout');
    assert.equal(formatProbeResult(ok, 'json'), '{"target":"10.0.0.1:80","protocol":"tcp","ok":true,"response":"x-a","error":null,"durationMs":3}');
  });
});

/** A port nothing listens on: bound by the kernel's choice, then released. */
async function closedTcpPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

async function closedUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  const port = socket.address().port;
  await new Promise<void>((r) => socket.close(r));
  return port;
}

/** What a policy drop looks like to the prober: accepts, never answers. */
async function silentTcpServer(): Promise<{ port: number; close(): Promise<void> }> {
  const open = new Set<net.Socket>();
  const server = net.createServer((s) => { open.add(s); s.on('error', () => {}); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((r) => { server.close(() => r()); for (const s of open) s.destroy(); }),
  };
}

const loopback = (port: number) => ({ host: '127.0.0.1', port });

describe('workload probe over loopback', () => {
  let served: NameServer;
  let silent: Awaited<ReturnType<typeof silentTcpServer>>;
  before(async () => {
    served = await startNameServer({ tcp: [0, 0], udp: [0], host: '127.0.0.1', name: 'x-a' });
    silent = await silentTcpServer();
  });
  after(async () => {
    await served.close();
    await silent.close();
  });

  it('tcp: ok with the name the server answered', async () => {
    const r = await probeTcp(loopback(served.tcpPorts[0]!), 2000);
    assert.deepEqual({ ...r, durationMs: 0 }, { target: `127.0.0.1:${served.tcpPorts[0]}`, protocol: 'tcp', ok: true, response: 'x-a', error: null, durationMs: 0 });
    assert.ok(r.durationMs >= 0 && r.durationMs < 2000);
  });

  it('udp: ok with the name the server answered', async () => {
    const r = await probeUdp(loopback(served.udpPorts[0]!), 2000);
    assert.equal(r.ok, true, r.error ?? '');
    assert.equal(r.response, 'x-a');
    assert.equal(r.protocol, 'udp');
  });

  it('tcp: refused on a closed port (RST)', async () => {
    const r = await probeTcp(loopback(await closedTcpPort()), 2000);
    assert.equal(r.ok, false);
    assert.equal(r.error, 'refused');
    assert.equal(r.response, null);
  });

  it('udp: refused on a closed port (Linux answers ICMP port unreachable on loopback)', async () => {
    const r = await probeUdp(loopback(await closedUdpPort()), 2000);
    assert.equal(r.ok, false);
    assert.equal(r.error, 'refused');
  });

  it('tcp: timeout when the server accepts but never answers, after about the timeout', async () => {
    const r = await probeTcp(loopback(silent.port), 300);
    assert.equal(r.ok, false);
    assert.equal(r.error, 'timeout');
    assert.ok(r.durationMs >= 290 && r.durationMs < 1500, `took ${r.durationMs}ms`);
  });

  it('probes all targets at once and reports them in the order given', async () => {
    const targets = [loopback(silent.port), loopback(served.tcpPorts[1]!), loopback(silent.port), loopback(await closedTcpPort())];
    const started = Date.now();
    const rs = await probeAll(targets, 'tcp', 400);
    assert.ok(Date.now() - started < 750, 'two 400ms timeouts ran concurrently');
    assert.deepEqual(rs.map((r) => r.error ?? r.response), ['timeout', 'x-a', 'timeout', 'refused']);
    assert.deepEqual(rs.map((r) => r.target), targets.map((t) => `127.0.0.1:${t.port}`));
  });

  it('CLI: exit 0 when all are ok, 1 when any fails, 2 for bad flags', async () => {
    const okTarget = `127.0.0.1:${served.tcpPorts[0]}`;
    const all = await runCli(['workload', 'probe', '--timeout', '1s', '--to', okTarget, '--to', `127.0.0.1:${served.tcpPorts[1]}`]);
    assert.equal(all.code, 0, all.stderr);
    assert.equal(all.stdout, `${okTarget} ok x-a\n127.0.0.1:${served.tcpPorts[1]} ok x-a\n`);

    const closed = await closedUdpPort();
    const some = await runCli(['workload', 'probe', '--protocol', 'udp', '--timeout', '500ms', '--to', `127.0.0.1:${served.udpPorts[0]}`, '--to', `127.0.0.1:${closed}`, '-o', 'json']);
    assert.equal(some.code, 1, some.stderr);
    const lines = some.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as ProbeResult);
    assert.deepEqual(lines.map((l) => [l.target, l.protocol, l.ok, l.response, l.error]), [
      [`127.0.0.1:${served.udpPorts[0]}`, 'udp', true, 'x-a', null],
      [`127.0.0.1:${closed}`, 'udp', false, null, 'refused'],
    ]);

    for (const bad of [['--to', okTarget, '--timeout', '1m'], [], ['--to', okTarget, '--bogus'], ['--to', okTarget, '--protocol', 'icmp'], ['--to']]) {
      const r = await runCli(['workload', 'probe', ...bad]);
      assert.equal(r.code, 2, `${bad.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
    }
  });
});

const mainJs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../cli/main.js');

/** The membrane CLI as a user runs it; the exit code is returned, not thrown. */
const runCli = (args: string[]) => run(process.execPath, [mainJs, ...args], { allowFailure: true });
