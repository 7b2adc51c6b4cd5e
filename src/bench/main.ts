/**
 * `npm run bench [-- AREA]`: membrane's benchmarks, each against a baseline
 * measured in the same run. Areas: datapath. Writes docs/benchmarks.md.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../testing/agent.js';
import { benchDatapath, formatDatapathTable } from './datapath.js';
import { benchPolicy, formatPolicyTable } from './policy.js';

const areas = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const reps = Number(process.env['BENCH_REPS'] ?? 5);
const secs = Number(process.env['BENCH_SECS'] ?? 3);
const log = (l: string) => process.stderr.write(`${l}\n`);
const KNOWN = ['datapath', 'policy'];

async function main(): Promise<void> {
  for (const a of areas) if (!KNOWN.includes(a)) throw new Error(`unknown benchmark area "${a}"; areas: ${KNOWN.join(', ')}`);
  const want = (a: string) => areas.length === 0 || areas.includes(a);
  const sections: string[] = [];
  if (want('datapath')) {
    const rows = await benchDatapath({ reps, secs, log });
    sections.push(`## Datapath\n\nTwo pods on one membrane node (lab topology: node netns, agent, pods through the CNI plugin) against a plain veth pair between two namespaces with no programs. Client and server pinned to CPU 0 (\`taskset -c 0\`), configurations interleaved, ${reps} repetitions of ${secs} s each; \`bench/pp.c\` (TCP_RR-like: 1-byte ping-pong on one connection; TCP_CRR-like: connect, 1 byte each way, RST close). Ratio = median / the veth pair's median.\n\n${formatDatapathTable(rows)}\n`);
  }
  if (want('policy')) {
    const rows = await benchPolicy({ endpointCounts: [100, 1000], ruleCounts: [10, 100, 1000], reps: 3, regenerations: ['incremental', 'full'], log });
    sections.push(`## Policy control plane\n\nA real agent with N endpoints (a host-side veth each, programs attached, maps written; no pod processes) in ${20} label groups; R CiliumNetworkPolicies, each letting one group in from another on one TCP port. Times are from the API call to its answer, which comes once every endpoint's policy map holds the result; medians (range) of 3 repetitions. Map writes count policy-map entries written (and deleted) by that change. The new pod has an identity of its own (an extra label) that other endpoints' rules select, so absorbing it means new entries in their maps. Regeneration is incremental (a selector cache maps each peer selector to its identities; only endpoint groups whose policies or selections changed are resolved again, and only their endpoints' maps are diffed); \"endpoints diffed\" counts the endpoints whose maps were compared with the kernel for the change, and ×N is the ratio to the full-regeneration baseline below.\n\n${formatPolicyTable(rows)}\n`);
  }
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const doc = `# membrane benchmarks\n\nMeasured by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}: ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}. Every figure is from that one run; ratios are against the baseline measured in the same run.\n\n${sections.join('\n')}`;
  process.stdout.write(`\n${doc}`);
  if (areas.length === 0) writeFileSync(path.join(REPO_ROOT, 'docs', 'benchmarks.md'), doc);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
