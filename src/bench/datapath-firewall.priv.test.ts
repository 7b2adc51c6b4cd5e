/**
 * The datapath benchmark's firewalls hold what they claim: N per-source
 * rules (or N set elements) in the server's namespace, the client's among
 * them, so the measured traffic passes and traffic from any other source
 * is dropped; and removing the pair leaves nothing behind.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { run } from '../common/exec.js';
import { requireRoot } from '../testing/names.js';
import { buildPp } from './datapath.js';
import { type FirewallKind, loadFirewall, type VethPair, vethPair } from './datapath-firewall.js';
import { PP_PORT } from './datapath-rules.js';

/** Whether pp's ping-pong from the client's namespace to the server gets answers (a dropped SYN leaves it waiting: killed after 3 s). */
async function reachable(pair: VethPair): Promise<boolean> {
  const res = await run('nsenter', [`--net=${pair.clientNetnsPath}`, buildPp(), 'rr', pair.serverIp, String(PP_PORT), '0.2'], { allowFailure: true, timeoutMs: 3_000 });
  return res.code === 0 && /trans\/s/.test(res.stdout);
}

/** Makes the client's connections to the server leave from `ip` (another address of its own) instead of its first one. */
async function sourceFrom(pair: VethPair, ip: string): Promise<void> {
  await run('ip', ['-n', pair.client, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
  await run('ip', ['-n', pair.client, 'route', 'replace', `${pair.serverIp}/32`, 'dev', 'eth0', 'src', ip]);
}

describe('datapath benchmark firewalls', () => {
  const pairs: VethPair[] = [];
  const servers: ChildProcess[] = [];

  after(async () => {
    for (const s of servers) s.kill('SIGKILL');
    for (const p of pairs) await p.remove();
  });

  const serve = async (pair: VethPair) => {
    servers.push(spawn('nsenter', [`--net=${pair.serverNetnsPath}`, buildPp(), 'server', '0.0.0.0', String(PP_PORT)], { stdio: 'ignore' }));
    for (let i = 0; i < 50; i++) {
      if ((await run('ip', ['netns', 'exec', pair.server, 'ss', '-Hltn'])).stdout.includes(`:${PP_PORT} `)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('pp server did not listen');
  };

  it('a plain pair lets everything through', async () => {
    requireRoot();
    const pair = await vethPair();
    pairs.push(pair);
    await serve(pair);
    assert.equal(await reachable(pair), true);
    await sourceFrom(pair, '10.200.0.9');
    assert.equal(await reachable(pair), true);
  });

  for (const kind of ['iptables-legacy', 'iptables-nft', 'nft-set'] as FirewallKind[]) {
    it(`${kind} with 1,000 rules lets the client in and drops any other source`, async () => {
      requireRoot();
      const pair = await vethPair();
      pairs.push(pair);
      const { counted } = await loadFirewall(pair, kind, 1000);
      assert.equal(counted, 1000);
      await serve(pair);
      assert.equal(await reachable(pair), true);
      await sourceFrom(pair, '10.200.0.9');
      assert.equal(await reachable(pair), false);
    });
  }

  it('removing a pair deletes its namespaces, and removing it again is harmless', async () => {
    requireRoot();
    const pair = await vethPair();
    await loadFirewall(pair, 'iptables-nft', 10);
    await pair.remove();
    await pair.remove();
    const names = (await run('ip', ['netns', 'list'])).stdout;
    assert.ok(!names.includes(pair.client) && !names.includes(pair.server), names);
  });
});
