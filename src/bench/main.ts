/** `npm run bench [-- AREA]`: membrane's benchmarks (areas: datapath). */
import { benchDatapath, formatDatapathTable } from './datapath.js';

const areas = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const reps = Number(process.env['BENCH_REPS'] ?? 5);
const secs = Number(process.env['BENCH_SECS'] ?? 3);
const log = (l: string) => process.stderr.write(`${l}\n`);

async function main(): Promise<void> {
  const want = (a: string) => areas.length === 0 || areas.includes(a);
  if (want('datapath')) {
    const rows = await benchDatapath({ reps, secs, log });
    process.stdout.write(`\nDatapath: two pods on one node, client and server pinned to CPU 0, ${reps} interleaved repetitions of ${secs} s\n\n`);
    process.stdout.write(formatDatapathTable(rows) + '\n');
  }
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
