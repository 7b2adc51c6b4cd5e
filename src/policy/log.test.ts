/**
 * A rule's `log: {value}` (Cilium's rule-level log): accepted and checked
 * by the schema (printable ASCII, at most 32 characters, errors at the
 * exact path), and kept by the repository with every rule location of the
 * rule, from where flows take it as their policy_log.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rejectsPolicy } from '../testing/policy-parse.js';
import { NOT_YET_SUPPORTED } from './errors.js';
import { parsePolicyText } from './parse.js';
import { PolicyRepository } from './repository.js';

const header = 'apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: p\n';
/** `spec` with a log line, and two `specs`, the second with its own log line. */
const policyWithLogs = (specLog: string, specs1Log: string) =>
  `${header}spec:\n  endpointSelector: {}\n${specLog}  ingress: [{fromEntities: [world]}]\n` +
  `specs:\n- endpointSelector: {}\n  egress: [{toEntities: [world]}]\n- endpointSelector: {}\n${specs1Log}  egressDeny: [{toEntities: [world]}, {toEntities: [host]}]\n`;
const ref = { kind: 'CiliumNetworkPolicy' as const, namespace: 'default', name: 'p' };

describe('the rule-level log field', () => {
  it('is accepted on spec and on any of specs, with a value of up to 32 printable ASCII characters', () => {
    const thirtyTwo = 'x'.repeat(31) + '~';
    const [p] = parsePolicyText(policyWithLogs('  log: {value: "deny world"}\n', `  log: {value: "${thirtyTwo}"}\n`));
    assert.equal(p!.rules.length, 3);
    assert.doesNotThrow(() => parsePolicyText(policyWithLogs('  log: {}\n', '  log: {value: ""}\n')), 'an empty log, as Cilium takes it');
    assert.doesNotThrow(() => parsePolicyText(policyWithLogs('  log: {value: " !\\"#$%&()*+,-./:;<=>?@[\\\\]^_`{|}"}\n', '')));
  });

  const rejected: [string, string, string, string, RegExp][] = [
    ['a value of 33 characters', `  log: {value: "${'a'.repeat(33)}"}\n`, '', 'spec.log.value', /33 characters long; a log value has at most 32/],
    ['a tab', '', '  log: {value: "a\\tb"}\n', 'specs[1].log.value', /character "\\t".*printable ASCII/],
    ['a newline', '  log: {value: "a\\nb"}\n', '', 'spec.log.value', /printable ASCII/],
    ['a character beyond ASCII', '', '  log: {value: "café"}\n', 'specs[1].log.value', /character "é"/],
    ['a number instead of a string', '  log: {value: 7}\n', '', 'spec.log.value', /must be a string, not a number/],
    ['a string instead of a mapping', '', '  log: deny\n', 'specs[1].log', /must be a mapping/],
    ['a misspelt field inside', '  log: {vaule: x}\n', '', 'spec.log.vaule', /did you mean `value`/],
  ];
  for (const [name, specLog, specs1Log, path, message] of rejected) {
    it(`refuses ${name} at ${path}`, () => rejectsPolicy(policyWithLogs(specLog, specs1Log), path, message));
  }

  it('is no longer named as a field membrane does not support', () => assert.equal(NOT_YET_SUPPORTED.has('log'), false));
});

describe('the repository keeps a rule\'s log value with its rule locations', () => {
  it('gives every section entry of a rule with a log value that value, and none to the entries of a rule without', () => {
    const repo = new PolicyRepository();
    repo.import(parsePolicyText(policyWithLogs('  log: {value: "world in"}\n', '  log: {value: "deny out"}\n')));
    const at = (ruleIndex: number, section: 'ingress' | 'egress' | 'egressDeny', index: number) => repo.describeCookie(repo.cookie(ref, ruleIndex, section, index));
    assert.deepEqual(at(0, 'ingress', 0), { ref, ruleIndex: 0, section: 'ingress', index: 0, path: 'spec.ingress[0]', log: 'world in' });
    assert.deepEqual(at(1, 'egress', 0), { ref, ruleIndex: 1, section: 'egress', index: 0, path: 'specs[0].egress[0]' });
    assert.deepEqual([at(2, 'egressDeny', 0)?.log, at(2, 'egressDeny', 1)?.log], ['deny out', 'deny out']);
    assert.deepEqual([at(2, 'egressDeny', 1)?.path], ['specs[1].egressDeny[1]']);
  });

  it('takes no log value from an empty one', () => {
    const repo = new PolicyRepository();
    repo.import(parsePolicyText(policyWithLogs('  log: {value: ""}\n', '  log: {}\n')));
    assert.equal('log' in repo.describeCookie(repo.cookie(ref, 0, 'ingress', 0))!, false);
    assert.equal('log' in repo.describeCookie(repo.cookie(ref, 2, 'egressDeny', 0))!, false);
  });

  it('follows a change of the value: a new revision, the same cookie, the new value', () => {
    const repo = new PolicyRepository();
    repo.import(parsePolicyText(policyWithLogs('  log: {value: "v1"}\n', '')));
    const cookie = repo.cookie(ref, 0, 'ingress', 0);
    const before = repo.revision;
    assert.equal(repo.import(parsePolicyText(policyWithLogs('  log: {value: "v2"}\n', ''))).results[0]!.action, 'configured');
    assert.equal(repo.revision, before + 1);
    assert.equal(repo.cookie(ref, 0, 'ingress', 0), cookie);
    assert.equal(repo.describeCookie(cookie)?.log, 'v2');
    repo.import(parsePolicyText(policyWithLogs('', '')));
    assert.equal(repo.describeCookie(cookie)?.log, undefined);
  });
});
