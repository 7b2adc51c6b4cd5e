/**
 * `npm run demo`: the Star Wars demo on a lab, every command printed so it can
 * be copied, every step checked (✔/✘). Exits 0 only if every step behaved as
 * the story says. The lab is torn down at the end, also on failure and on
 * Ctrl-C.
 *
 *   node dist/demo/starwars.js [--lab NAME] [--keep]
 */
import path from 'node:path';
import { defaultToolchain } from '../lab/toolchain.js';
import { DemoRunner } from './runner.js';
import { StarWarsStory } from './starwars-story.js';

export interface DemoOptions {
  lab: string;
  /** Leave the lab up at the end (after a success) to explore it. */
  keep: boolean;
  write: (text: string) => void;
  color: boolean;
}

/** Runs the whole story; resolves to true when every check passed. */
export async function runStarWarsDemo(opts: DemoOptions, signal?: AbortSignal): Promise<{ ok: boolean; runner: DemoRunner }> {
  const toolchain = defaultToolchain();
  const runner = new DemoRunner({ membrane: toolchain.membrane, write: opts.write, cwd: process.cwd(), color: opts.color });
  const story = new StarWarsStory(runner, { lab: opts.lab, examples: path.join(toolchain.repoRoot, 'examples', 'starwars') });
  const onAbort = () => runner.interrupt();
  signal?.addEventListener('abort', onAbort);
  opts.write('Star Wars demo: a deathstar, a tiefighter, an xwing, and a policy that tells them apart.\n');
  try {
    const chapters = [
      () => story.setUp(),
      () => story.landWithoutPolicy(),
      () => story.bothReplicasServe(),
      () => story.applyL3L4(),
      () => story.landWithPolicy(),
      () => story.dropFlow(),
      () => story.endpointEnforcement(),
      () => story.exhaustPortBeforeL7(),
      () => story.applyL7(),
      () => story.landWithL7(),
      () => story.l7Flows(),
    ];
    for (const chapter of chapters) {
      if (signal?.aborted || !await chapter()) break;
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (signal?.aborted) opts.write('\nInterrupted.\n');
    if (!opts.keep || runner.failed || signal?.aborted) await story.tearDown();
    else opts.write(`\nThe lab is still up: explore it with "bin/membrane --lab ${opts.lab} lab get pods", then "bin/membrane --lab ${opts.lab} lab down".\n`);
  }
  const ok = !runner.failed && !signal?.aborted;
  const total = runner.checks.length;
  const failed = runner.checks.filter((c) => !c.ok).length;
  if (ok) opts.write(`\n✔ all ${total} checks passed\n`);
  else if (signal?.aborted) opts.write(`\n✘ interrupted after ${total - failed} passed checks\n`);
  else opts.write(`\n✘ ${failed} of ${total} checks failed: ${runner.checks.filter((c) => !c.ok).map((c) => c.what).join('; ')}\n`);
  return { ok, runner };
}

function argValue(argv: string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const controller = new AbortController();
  // Ctrl-C stops the command running now; the demo then tears the lab down and exits 130.
  process.on('SIGINT', () => controller.abort());
  process.on('SIGTERM', () => controller.abort());
  const { ok } = await runStarWarsDemo({
    lab: argValue(argv, '--lab') ?? 'starwars',
    keep: argv.includes('--keep'),
    write: (t) => process.stdout.write(t),
    color: process.stdout.isTTY === true,
  }, controller.signal);
  process.exitCode = controller.signal.aborted ? 130 : ok ? 0 : 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  void main();
}
