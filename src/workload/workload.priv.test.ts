import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { run } from '../common/exec.js';
import { requireRoot, uniqueName } from '../testing/names.js';
import type { ProbeResult } from './probe.js';

/**
 * `workload serve` and `workload probe` across two network namespaces joined
 * by a veth pair, as the policy conformance matrix will use them: answers,
 * refusals, and a drop seen as timeouts. The drop: the client's neighbour
 * entry for the server points at a MAC nobody has, so the server's veth
 * discards every frame as meant for another host (no tc modules needed).
 */

const mainJs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../cli/main.js');
const SERVER_IP = '10.213.7.1';
const CLIENT_IP = '10.213.7.2';

describe('workload serve/probe across network namespaces', () => {
  const serverNs = uniqueName('wks');
  const clientNs = uniqueName('wkc');
  let server: ChildProcess | undefined;

  before(async () => {
    requireRoot();
    for (const ns of [serverNs, clientNs]) {
      await run('ip', ['netns', 'add', ns]);
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    await run('ip', ['-n', serverNs, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', clientNs]);
    for (const [ns, ip] of [[serverNs, SERVER_IP], [clientNs, CLIENT_IP]] as const) {
      await run('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
      await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    }
    server = spawn('ip', ['netns', 'exec', serverNs, process.execPath, mainJs, 'workload', 'serve', '--tcp', '80,81', '--udp', '80,81'],
      { env: { ...process.env, POD_NAME: 'x-a' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      server!.stdout!.on('data', (c: Buffer) => { out += c.toString(); if (out.includes('\n')) resolve(); });
      server!.stderr!.on('data', (c: Buffer) => { out += c.toString(); });
      server!.once('exit', (code) => reject(new Error(`serve exited (${code}): ${out}`)));
    });
  });

  after(async () => {
    if (server?.pid !== undefined && server.exitCode === null) {
      const exited = new Promise((r) => server!.once('exit', r));
      server.kill('SIGTERM');
      await exited;
    }
    for (const ns of [serverNs, clientNs]) await run('ip', ['netns', 'delete', ns], { allowFailure: true });
  });

  async function probe(protocol: string, ports: number[], timeout = '1s'): Promise<{ code: number; results: ProbeResult[] }> {
    const to = ports.flatMap((p) => ['--to', `${SERVER_IP}:${p}`]);
    const r = await run('ip', ['netns', 'exec', clientNs, process.execPath, mainJs, 'workload', 'probe', '--protocol', protocol, '--timeout', timeout, ...to, '-o', 'json'], { allowFailure: true });
    return { code: r.code, results: r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as ProbeResult) };
  }

  it('answers on every port with the pod name over tcp and udp; a closed port is refused', async () => {
    const tcp = await probe('tcp', [80, 81, 82]);
    assert.equal(tcp.code, 1);
    assert.deepEqual(tcp.results.map((r) => r.error ?? r.response), ['x-a', 'x-a', 'refused']);
    const udp = await probe('udp', [80, 81, 82]);
    assert.equal(udp.code, 1);
    assert.deepEqual(udp.results.map((r) => r.error ?? r.response), ['x-a', 'x-a', 'refused']);
    assert.equal((await probe('tcp', [80, 81])).code, 0);
  });

  it('reports timeout for tcp and udp when packets to the server are dropped', async () => {
    await run('ip', ['-n', clientNs, 'neigh', 'replace', SERVER_IP, 'lladdr', '02:00:00:00:00:01', 'dev', 'eth0', 'nud', 'permanent']);
    try {
      for (const protocol of ['tcp', 'udp']) {
        const r = await probe(protocol, [80, 82], '500ms');
        assert.equal(r.code, 1);
        assert.deepEqual(r.results.map((x) => x.error), ['timeout', 'timeout'], protocol);
      }
    } finally {
      await run('ip', ['-n', clientNs, 'neigh', 'del', SERVER_IP, 'dev', 'eth0']);
    }
    assert.equal((await probe('udp', [80, 81])).code, 0, 'answers again once the drop is gone');
  });
});
