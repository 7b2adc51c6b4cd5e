import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run } from '../common/exec.js';
import { defaultToolchain } from '../lab/toolchain.js';
import { requireRoot, uniqueName } from '../testing/names.js';
import { DemoRunner } from './runner.js';
import { StarWarsStory } from './starwars-story.js';

/**
 * The Star Wars demo's chapters on a real lab (agent, CNI plugin, datapath),
 * with real traffic: the checks the demo prints must all pass.
 */
describe('Star Wars demo (privileged)', () => {
  const lab = uniqueName('t');
  const toolchain = defaultToolchain();
  let output = '';
  const runner = new DemoRunner({ membrane: toolchain.membrane, write: (t) => { output += t; }, cwd: toolchain.repoRoot });
  const story = new StarWarsStory(runner, { lab, examples: path.join(toolchain.repoRoot, 'examples', 'starwars') });

  /** Runs a chapter; on failure, the assertion shows what the chapter printed. */
  async function chapter(fn: () => Promise<boolean>): Promise<void> {
    const start = output.length;
    const ok = await fn();
    assert.ok(ok, `the demo step failed:\n${output.slice(start)}`);
  }

  before(async () => {
    requireRoot();
    await chapter(() => story.setUp());
  });

  after(async () => {
    await story.tearDown();
    await run(toolchain.membrane, ['--lab', lab, 'lab', 'down'], { allowFailure: true });
  });

  it('lets both ships land while no policy is in force', async () => {
    await chapter(() => story.landWithoutPolicy());
  });

  it('spreads new connections to the deathstar Service over both replicas', async () => {
    await chapter(() => story.bothReplicasServe());
  });

  it('with the L3/L4 policy, lands the tiefighter and times the xwing out (curl exit 28)', async () => {
    await chapter(() => story.applyL3L4());
    await chapter(() => story.landWithPolicy());
  });

  it("shows the xwing's dropped packet as a \"Policy denied ... DROPPED\" flow", async () => {
    await chapter(() => story.dropFlow());
  });

  it('shows ingress enforcement Enabled on both deathstar endpoints', async () => {
    await chapter(() => story.endpointEnforcement());
  });

  it('lets the tiefighter hit the exhaust port under the L3/L4 policy ("Panic: deathstar exploded")', async () => {
    await chapter(() => story.exhaustPortBeforeL7());
  });

  it('with the L7 policy, lands the tiefighter, answers its exhaust-port PUT "Access denied", still drops the xwing, and shows the HTTP flows', async () => {
    await chapter(() => story.applyL7());
    await chapter(() => story.landWithL7());
    await chapter(() => story.l7Flows());
  });
});
