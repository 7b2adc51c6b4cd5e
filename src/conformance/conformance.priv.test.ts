import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { requireRoot } from '../testing/names.js';
import { CASES } from './cases.js';
import { ConformanceMatrix, MATRIX_SIZE } from './matrix.js';
import { connectionKey, formatMismatches } from './reachability.js';
import { formatTraceDisagreements } from './trace-check.js';

/**
 * The policy conformance matrix through real traffic in a lab: for every
 * case, the full reachability matrix of 9 pods (TCP and UDP, ports 80 and
 * 81) and from them to the lab's world (TCP 80) against the expectation, the
 * drop reasons and AUDIT verdicts in the agent's flows, and `policy trace`'s
 * verdict of every connection against what traffic got. A case with a
 * knownIssue runs as a todo: it reports, without failing the suite.
 */
describe(`policy conformance matrix (privileged, real lab; ${CASES.length} cases x ${MATRIX_SIZE} probes)`, () => {
  let matrix: ConformanceMatrix | undefined;

  before(async () => {
    requireRoot();
    matrix = await ConformanceMatrix.start();
  });

  after(async () => {
    await matrix?.stop();
  });

  for (const c of CASES) {
    it(c.name, c.knownIssue ? { todo: c.knownIssue } : {}, async () => {
      assert.ok(matrix, 'the conformance lab did not come up');
      const outcome = await matrix.run(c);
      // Every check reports, so that a failing case shows reachability, reasons and the trace at once.
      const problems: string[] = [];
      if (outcome.mismatches.length > 0) {
        problems.push(`${outcome.mismatches.length} of ${MATRIX_SIZE} connections differ from the expectation:\n${formatMismatches(outcome.mismatches, c.expect)}`);
      }
      if (outcome.reasonProblems.length > 0) problems.push(`drop reasons:\n${outcome.reasonProblems.join('\n')}`);
      if (outcome.traceDisagreements.length > 0) {
        problems.push(`policy trace disagrees with traffic on ${outcome.traceDisagreements.length} connections:\n` +
          formatTraceDisagreements(outcome.traceDisagreements, (x) => outcome.traceVerdicts.get(connectionKey(x))));
      }
      assert.deepEqual(problems, [], problems.join('\n\n'));
    });
  }
});
