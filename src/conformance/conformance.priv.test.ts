import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { requireRoot } from '../testing/names.js';
import { CASES } from './cases.js';
import { ConformanceMatrix, MATRIX_SIZE } from './matrix.js';
import { formatMismatches } from './reachability.js';

/**
 * The policy conformance matrix through real traffic in a lab: for every
 * case, the full reachability matrix of 9 pods (TCP and UDP, ports 80 and
 * 81) against the expectation, and the drop reasons in the agent's flows.
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
    it(c.name, async () => {
      assert.ok(matrix, 'the conformance lab did not come up');
      const outcome = await matrix.run(c);
      assert.equal(outcome.mismatches.length, 0,
        `${outcome.mismatches.length} of ${MATRIX_SIZE} connections differ from the expectation:\n${formatMismatches(outcome.mismatches, c.expect)}`);
      assert.deepEqual(outcome.reasonProblems, [], `drop reasons:\n${outcome.reasonProblems.join('\n')}`);
    });
  }
});
