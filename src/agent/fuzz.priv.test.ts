/**
 * Fuzzing a real agent's policy API: about 1,500 seeded random and mutated
 * policy texts (src/testing/policy-fuzz.ts) imported over the API into an
 * agent with two real pods, interleaved with deletes. After every call the
 * agent answers healthz; a refused text gives EINVAL with a path and leaves
 * the policy list, the revision and (checked at checkpoints) the endpoints'
 * policy maps in the kernel as they were; an accepted one moves the revision
 * by one when it changed anything. At the end the agent is the same process
 * and its log shows no uncaught error.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AgentClient } from '../api/client.js';
import type { PolicyImportResponse, PolicyListModel } from '../api/types.js';
import { run } from '../common/exec.js';
import { MembraneError } from '../common/errors.js';
import { startTestNode, type TestNode } from '../testing/agent.js';
import { requireRoot } from '../testing/names.js';
import { addTestPod, type TestPod } from '../testing/pods.js';
import { fuzzCase, Rng } from '../testing/policy-fuzz.js';

const CALLS = Number(process.env['FUZZ_AGENT_CALLS'] ?? 1500);
const SEED = Number(process.env['FUZZ_AGENT_SEED'] ?? 0xa9e47);
const CHECKPOINT_EVERY = 60;
const NAMES = ['fz-a', 'fz-b', 'fz-c', 'fz-d', 'fz-e', 'fz-f'];

/** The policy list without per-request noise, to compare before and after. */
const listKey = (l: PolicyListModel) => JSON.stringify(l);

describe('agent policy API fuzz', () => {
  let node: TestNode;
  let agent: AgentClient;
  let pid: number;
  const pods: TestPod[] = [];

  before(async () => {
    requireRoot();
    node = await startTestNode({ podCIDR: '10.244.31.0/24' });
    agent = new AgentClient(node.socket, 60_000);
    pid = node.agentPid;
    pods.push(await addTestPod(node, 'web', { app: 'web' }));
    pods.push(await addTestPod(node, 'friend', { app: 'friend', tier: 'db' }, 'team-a'));
  });

  after(async () => {
    for (const p of pods) await p.remove().catch(() => undefined);
    await node?.stop();
  });

  /** Entries in the kernel's policy map (every endpoint's), read with bpftool from the agent's pin. */
  async function kernelPolicyEntries(): Promise<number> {
    const pin = readdirSync(node.bpffsDir).find((f) => /polic/i.test(f));
    assert.ok(pin, `no policy map pinned in ${node.bpffsDir}: ${readdirSync(node.bpffsDir).join(' ')}`);
    const res = await run('bpftool', ['-j', 'map', 'dump', 'pinned', join(node.bpffsDir, pin)]);
    return (JSON.parse(res.stdout) as unknown[]).length;
  }

  /** What the agent says about its endpoints' policy, and what the kernel holds. */
  async function datapathState(): Promise<string> {
    const eps = (await agent.listEndpoints()).map((e) => ({ id: e.id, identity: e.identity, policy: e.policy })).sort((a, b) => a.id - b.id);
    return JSON.stringify({ eps, kernel: await kernelPolicyEntries() });
  }

  it(`survives ${CALLS} random and mutated policy imports and deletes, applying each text whole or not at all`, async () => {
    const rng = new Rng(SEED);
    const tally = { accepted: 0, refused: 0, deleted: 0, checkpoints: 0, eitherAccepted: 0 };
    const started = Date.now();
    for (let i = 0; i < CALLS; i++) {
      const before = await agent.listPolicies();
      if (rng.chance(0.07) && before.policies.length > 0) {
        const victim = rng.pick(before.policies);
        const res = rng.chance(0.2) ? await agent.deleteAllPolicies() : await agent.deletePolicy(victim);
        assert.equal(res.revision, before.revision + 1, `call ${i}: a delete moves the revision by one`);
        tally.deleted++;
        assert.equal((await agent.healthz()).ok, true);
        continue;
      }
      const c = fuzzCase(rng, { names: NAMES, small: true, l7: false });
      const where = `call ${i} (seed ${SEED}, ${c.what}); text:\n${c.text.slice(0, 1200)}`;
      const checkpoint = i % CHECKPOINT_EVERY === 0 && c.expect === 'invalid';
      const stateBefore = checkpoint ? await datapathState() : undefined;
      let res: PolicyImportResponse | undefined;
      let error: MembraneError | undefined;
      try {
        res = await agent.importPolicies({ text: c.text });
      } catch (err) {
        error = err as MembraneError;
      }
      assert.equal((await agent.healthz()).ok, true, `the agent answers healthz after ${where}`);
      const afterList = await agent.listPolicies();
      if (error) {
        assert.ok(error instanceof MembraneError, `${String(error)}\n${where}`);
        assert.equal(error.code, 'EINVAL', `${error.message}\n${where}`);
        assert.equal(typeof error.path, 'string', `no path in ${error.message}\n${where}`);
        assert.notEqual(c.expect, 'valid', `a valid text was refused: ${error.message}\n${where}`);
        if (c.badDoc !== undefined) assert.ok(error.path!.startsWith(`[${c.badDoc}]`), `${error.message}\n${where}`);
        assert.equal(afterList.revision, before.revision, `refused, yet the revision moved: ${error.message}\n${where}`);
        assert.equal(listKey(afterList), listKey(before), `refused, yet the policy list changed: ${error.message}\n${where}`);
        if (stateBefore !== undefined) {
          assert.equal(await datapathState(), stateBefore, `refused, yet the endpoints' policy changed\n${where}`);
          tally.checkpoints++;
        }
        tally.refused++;
      } else {
        assert.notEqual(c.expect, 'invalid', `an invalid text was accepted\n${where}`);
        const changed = res!.results.some((r) => r.action !== 'unchanged');
        assert.equal(res!.revision, before.revision + (changed ? 1 : 0), `revision after ${JSON.stringify(res)}\n${where}`);
        assert.equal(afterList.revision, res!.revision);
        if (c.expect === 'valid') tally.accepted++;
        else tally.eitherAccepted++;
      }
    }
    // Every endpoint realized the last revision.
    const final = await agent.listPolicies();
    for (const ep of await agent.listEndpoints()) assert.equal(ep.policy.revision, final.revision, `endpoint ${ep.id} is at revision ${ep.policy.revision}`);
    assert.ok(tally.accepted > CALLS / 10 && tally.refused > CALLS / 3, JSON.stringify(tally));
    process.stdout.write(`# agent fuzz: ${JSON.stringify(tally)} in ${Date.now() - started} ms\n`);

    assert.equal(node.agentPid, pid, 'the agent was never restarted');
    assert.doesNotThrow(() => process.kill(pid, 0), 'the agent process is alive');
    const log = readFileSync(node.logFile, 'utf8');
    const bad = log.split('\n').filter((l) => /uncaught|unhandled|TypeError|RangeError|ReferenceError|failed after/i.test(l));
    assert.deepEqual(bad, [], `the agent log has errors:\n${bad.slice(0, 20).join('\n')}`);
  });
});
