import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { MembraneError, ValidationError } from '../common/errors.js';
import { parsePortList, portListOption, resolveServeName, startNameServer, validateServeSpec } from './serve.js';
import { run } from '../common/exec.js';

const isValidation = (flag: string) => (err: unknown) => err instanceof ValidationError && err.code === 'EINVAL' && err.message.startsWith(`${flag}: `);

describe('workload serve flags', () => {
  it('parses a comma list of ports', () => {
    assert.deepEqual(parsePortList('80,81', '--tcp'), [80, 81]);
    assert.deepEqual(parsePortList('1, 65535', '--udp'), [1, 65535]);
  });

  it('rejects ports outside 1-65535, empty items and non-numbers, naming the flag', () => {
    for (const bad of ['0', '65536', '', '80,', ',80', '80;81', 'http', '-1', '8.5']) {
      assert.throws(() => parsePortList(bad, '--udp'), isValidation('--udp'), bad);
    }
  });

  it('accumulates a repeated flag without duplicates', () => {
    const parse = portListOption('--tcp');
    assert.deepEqual(parse('81,80', parse('80', undefined)), [80, 81]);
  });

  it('answers with --name, else $POD_NAME, else the host name', () => {
    assert.equal(resolveServeName('x-a', { POD_NAME: 'p' }, 'h'), 'x-a');
    assert.equal(resolveServeName(undefined, { POD_NAME: 'p' }, 'h'), 'p');
    assert.equal(resolveServeName(undefined, { POD_NAME: '' }, 'h'), 'h');
    assert.equal(resolveServeName(undefined, {}, 'h'), 'h');
    assert.throws(() => resolveServeName('a\nb', {}, 'h'), isValidation('--name'));
    assert.throws(() => resolveServeName('', {}, 'h'), isValidation('--name'));
  });

  it('needs at least one port and an IP address to listen on', () => {
    assert.throws(() => validateServeSpec({ tcp: [], udp: [], host: '0.0.0.0', name: 'n' }), isValidation('--tcp/--udp'));
    assert.throws(() => validateServeSpec({ tcp: [80], udp: [], host: 'localhost', name: 'n' }), isValidation('--host'));
    validateServeSpec({ tcp: [], udp: [53], host: '::', name: 'n' });
  });
});

function readAll(port: number, send?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => { text += c; });
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
    if (send !== undefined) socket.write(send);
  });
}

function udpAsk(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    socket.on('message', (m) => { socket.close(); resolve(m.toString('utf8')); });
    socket.on('error', (err) => { socket.close(); reject(err); });
    socket.send('hi', port, '127.0.0.1');
  });
}

describe('workload serve over loopback', () => {
  it('answers every TCP connection with "NAME\\n" then closes, and every UDP datagram with NAME', async () => {
    const s = await startNameServer({ tcp: [0, 0], udp: [0], host: '127.0.0.1', name: 'x-a' });
    try {
      assert.equal(s.tcpPorts.length, 2);
      for (const port of s.tcpPorts) assert.equal(await readAll(port), 'x-a\n');
      assert.equal(await udpAsk(s.udpPorts[0]!), 'x-a');
    } finally {
      await s.close();
    }
  });

  it('drains what a client sends, so the client reads the name and a clean close rather than a reset', async () => {
    const s = await startNameServer({ tcp: [0], udp: [], host: '127.0.0.1', name: 'x-b' });
    try {
      assert.equal(await readAll(s.tcpPorts[0]!, 'GET / HTTP/1.0\r\n\r\n'.repeat(100)), 'x-b\n');
    } finally {
      await s.close();
    }
  });

  it('fails with EKERNEL naming protocol, address and port when a port is taken, and releases the ports it bound', async () => {
    const taken = await startNameServer({ tcp: [0], udp: [], host: '127.0.0.1', name: 'first' });
    const free = await startNameServer({ tcp: [0], udp: [], host: '127.0.0.1', name: 'probe' });
    const freePort = free.tcpPorts[0]!;
    await free.close();
    try {
      await assert.rejects(
        startNameServer({ tcp: [freePort, taken.tcpPorts[0]!], udp: [], host: '127.0.0.1', name: 'second' }),
        (err: unknown) => err instanceof MembraneError && err.code === 'EKERNEL'
          && err.message.startsWith(`cannot listen on tcp 127.0.0.1:${taken.tcpPorts[0]}: `) && /EADDRINUSE/.test(err.message),
      );
      // Rolled back: the port bound before the failure is free again.
      const again = await startNameServer({ tcp: [freePort], udp: [], host: '127.0.0.1', name: 'third' });
      await again.close();
    } finally {
      await taken.close();
    }
  });

  it('close() drops connections that are still open', async () => {
    const s = await startNameServer({ tcp: [0], udp: [], host: '127.0.0.1', name: 'x-c' });
    const socket = net.connect(s.tcpPorts[0]!, '127.0.0.1');
    socket.on('data', () => { /* keep reading, never end our side */ });
    socket.on('error', () => {});
    await new Promise((r) => socket.once('connect', r));
    const closed = new Promise((r) => socket.once('close', r));
    await s.close();
    await closed;
  });
});

const mainJs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../cli/main.js');

describe('membrane workload serve (CLI)', () => {
  it('serves until SIGTERM, then exits 0; a port it cannot bind exits 1 naming it', async () => {
    const taken = await startNameServer({ tcp: [0], udp: [], host: '127.0.0.1', name: 'first' });
    try {
      const busy = await runCli(['workload', 'serve', '--host', '127.0.0.1', '--tcp', String(taken.tcpPorts[0])]);
      assert.equal(busy.code, 1);
      assert.match(busy.stderr, new RegExp(`cannot listen on tcp 127\\.0\\.0\\.1:${taken.tcpPorts[0]}: .*EADDRINUSE`));
    } finally {
      await taken.close();
    }
    const bad = await runCli(['workload', 'serve', '--tcp', '80,0']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--tcp: port 0 is outside 1-65535/);

    // The CLI takes 1-65535 only: pick ports the kernel just handed out and released.
    const picked = await startNameServer({ tcp: [0], udp: [0], host: '127.0.0.1', name: 'picker' });
    await picked.close();
    const child = spawn(process.execPath, [mainJs, 'workload', 'serve', '--host', '127.0.0.1', '--tcp', String(picked.tcpPorts[0]), '--udp', String(picked.udpPorts[0])], { env: { ...process.env, POD_NAME: 'from-env' } });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', () => { if (out.includes('\n')) resolve(); });
      child.once('exit', (code) => reject(new Error(`serve exited early (${code}): ${out}`)));
    });
    assert.equal(out, `serve: answering "from-env" on 127.0.0.1 tcp ${picked.tcpPorts[0]}, udp ${picked.udpPorts[0]}\n`);
    assert.equal(await readAll(picked.tcpPorts[0]!), 'from-env\n');
    assert.equal(await udpAsk(picked.udpPorts[0]!), 'from-env');
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  });
});

/** The membrane CLI as a user runs it; the exit code is returned, not thrown. */
const runCli = (args: string[]) => run(process.execPath, [mainJs, ...args], { allowFailure: true });
