/**
 * Session affinity's timeout with real traffic: a client keeps its backend
 * while it comes back within the timeout (each new connection renews it),
 * and once it has been away longer, its next connection is balanced anew.
 * Pods in their own network namespaces, the datapath on their veths, the
 * frontend written through DatapathState.syncService (as in lb.priv.test.ts).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requireRoot } from '../testing/names.js';
import { waitForLine } from '../testing/tcp.js';
import type { LbFrontend } from './lb.js';
import { type NetPod, TestNet } from './testnet.js';

const VIP = '10.96.215.10';
const PORT = 8080;
const TIMEOUT_SEC = 2;
/** Rounds past the timeout before giving up on seeing another backend: with 3 backends all stay on one with odds (1/3)^11. */
const MAX_ROUNDS = 12;

/** Answers each TCP connection with the pod's name. */
const server = (name: string) => `require('net').createServer((s) => { s.on('error', () => {}); s.end('${name}\\n'); })
  .listen(${PORT}, '0.0.0.0', () => console.log('listening'));`;

/**
 * Bursts of `burst` new connections; between bursts it waits `gapMs`. With
 * `untilChange`, stops after the first burst that lands elsewhere than the
 * first did. Prints the answering backend names per burst, as JSON.
 */
const client = (bursts: number, burst: number, gapMs: number, untilChange: boolean) => `const net = require('net');
const one = () => new Promise((res) => { const s = net.connect(80, '${VIP}'); let b = '';
  s.setTimeout(1500, () => { s.destroy(); res('timeout'); }); s.on('data', (d) => b += d);
  s.on('close', () => res(b.trim() || 'empty')); s.on('error', () => res('error')); });
(async () => { const out = [];
  for (let i = 0; i < ${bursts}; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, ${gapMs}));
    const names = []; for (let j = 0; j < ${burst}; j++) names.push(await one());
    out.push(names);
    if (${untilChange} && names[0] !== out[0][0]) break;
  }
  console.log(JSON.stringify(out)); })();`;

describe('service session affinity timeout (real traffic)', () => {
  let net: TestNet;
  let pod: NetPod;
  const backends: NetPod[] = [];

  before(async () => {
    requireRoot();
    net = await TestNet.create('10.215.7');
    pod = await net.addPod('client', 5101);
    for (let i = 1; i <= 3; i++) backends.push(await net.addPod(`web${i}`, 6100 + i));
    for (const b of backends) {
      const srv = b.spawn(['node', '-e', server(b.name)]);
      if (!(await waitForLine(srv, /listening/, 10_000))) throw new Error(`server in ${b.name} did not start`);
    }
    const f: LbFrontend = {
      id: 1, vip: VIP, port: 80, protocol: 6, algorithm: 'random', affinityTimeoutSec: TIMEOUT_SEC,
      backends: backends.map((b) => ({ ip: b.ip, port: PORT, state: 'active' as const })),
    };
    net.state.syncService(f);
  });

  after(async () => {
    await net?.destroy();
  });

  async function run(bursts: number, burst: number, gapMs: number, untilChange: boolean): Promise<string[][]> {
    const res = await pod.exec(['node', '-e', client(bursts, burst, gapMs, untilChange)], { timeoutMs: 120_000 });
    const out = JSON.parse(res.stdout) as string[][];
    const names = new Set(backends.map((b) => b.name));
    for (const names_ of out) for (const n of names_) assert.ok(names.has(n), `every connection answered by a backend: ${JSON.stringify(out)}`);
    return out;
  }

  it('writes the timeout into the frontend the datapath holds', () => {
    const realized = net.state.realizedServices().find((f) => f.id === 1);
    assert.equal(realized?.affinityTimeoutSec, TIMEOUT_SEC);
  });

  it(`keeps a client on one backend while it comes back within the timeout (${TIMEOUT_SEC} s): 20 connections over 4 s`, async () => {
    for (const k of [...net.dp.maps.lb_affinity.keys()]) net.dp.maps.lb_affinity.delete(k);
    // Gaps of 1 s, under the timeout; the affinity lasts past the timeout in total because each connection renews it.
    const out = await run(4, 5, 1000, false);
    assert.equal(new Set(out.flat()).size, 1, `one backend for all: ${JSON.stringify(out)}`);
  });

  it('balances the client anew once it has been away longer than the timeout, and sticks to the new pick', async () => {
    for (const k of [...net.dp.maps.lb_affinity.keys()]) net.dp.maps.lb_affinity.delete(k);
    const out = await run(MAX_ROUNDS, 3, TIMEOUT_SEC * 1000 + 700, true);
    for (const burst of out) assert.equal(new Set(burst).size, 1, `a burst within the timeout stays on one backend: ${JSON.stringify(out)}`);
    const picks = new Set(out.map((b) => b[0]));
    assert.ok(picks.size >= 2, `after ${out.length} waits past the timeout, still only ${[...picks].join(', ')}: the affinity did not expire`);
  });
});
