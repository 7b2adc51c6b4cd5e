import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { requireRoot } from '../testing/names.js';
import { formatAttributionProblems } from './attribution.js';
import { CASES } from './cases.js';
import { ConformanceMatrix, MATRIX_SIZE, type RoundOutcome } from './matrix.js';
import { connectionKey, formatMismatches } from './reachability.js';
import { formatTraceDisagreements } from './trace-check.js';

/**
 * The policy conformance matrix through real traffic in a lab: for every
 * case, the full reachability matrix of 9 pods (TCP and UDP, ports 80 and
 * 81) and from them to the lab's world (TCP 80) against the expectation, the
 * drop reasons and AUDIT verdicts in the agent's flows, `policy trace`'s
 * verdict of every connection against what traffic got, and the deciding
 * policies every verdict flow names (with the rule path, and `policy_log`,
 * once flows carry them) against the ones the trace names.
 *
 * Coverage: the Kubernetes e2e NetworkPolicy scenarios, `cilium connectivity
 * test`'s policies and the CiliumNetworkPolicy language (selectors, entities,
 * ports, ranges, named ports, deny rules, enableDefaultDeny, specs), both
 * languages together, CIDR peers, ipBlocks and CIDR groups against the lab's
 * world, audit mode, service accounts, label source prefixes (`k8s:`,
 * `any:`, `reserved:`), `toServices`, an egress named port only the
 * destinations declare, labels changed between two rounds of a case, and a
 * rule-level `log` (cases.ts, cases-labels-services.ts). A case with a
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
      // Every check reports, so that a failing case shows reachability, reasons, the trace and attribution at once.
      const problems = outcome.rounds.flatMap(roundProblems);
      assert.deepEqual(problems, [], problems.join('\n\n'));
    });
  }
});

/** A round's problems, each a paragraph; those of a later round say which label change came before it. */
function roundProblems(round: RoundOutcome): string[] {
  const problems: string[] = [];
  if (round.mismatches.length > 0) {
    problems.push(`${round.mismatches.length} of ${MATRIX_SIZE} connections differ from the expectation:\n${formatMismatches(round.mismatches, round.expect)}`);
  }
  if (round.reasonProblems.length > 0) problems.push(`drop reasons:\n${round.reasonProblems.join('\n')}`);
  if (round.traceDisagreements.length > 0) {
    problems.push(`policy trace disagrees with traffic on ${round.traceDisagreements.length} connections:\n` +
      formatTraceDisagreements(round.traceDisagreements, (x) => round.traceVerdicts.get(connectionKey(x))));
  }
  if (round.attributionProblems.length > 0) {
    problems.push(`flows name other deciding policies than policy trace on ${round.attributionProblems.length} connection sides:\n` +
      formatAttributionProblems(round.attributionProblems));
  }
  if (round.attributionUnchecked) problems.push(`attribution: ${round.attributionUnchecked}`);
  return round.step ? problems.map((p) => `after ${round.step}: ${p}`) : problems;
}
