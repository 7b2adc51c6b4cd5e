/**
 * `node flows-child.js REPS SECS`: one run of the flow pipeline benchmark in
 * its own process (so the parent can pin it and choose its heap flags);
 * the result as JSON on stdout, progress on stderr.
 */
import { benchFlows } from './flows.js';

const [reps, secs] = process.argv.slice(2).map(Number);
const result = await benchFlows({ reps: reps ?? 5, secs: secs ?? 3, log: (l) => process.stderr.write(`${l}\n`) });
process.stdout.write(JSON.stringify(result));
