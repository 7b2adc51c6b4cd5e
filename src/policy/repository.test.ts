import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePolicyText } from './parse.js';
import { SW_L3_L4, SW_L3_L4_L7 } from './starwars.testdata.js';
import { PolicyRepository } from './repository.js';

const l34 = () => parsePolicyText(SW_L3_L4);
const l7 = () => parsePolicyText(SW_L3_L4_L7);
const other = () => parsePolicyText(SW_L3_L4.replace('rule1', 'rule2'));
const ref1 = { kind: 'CiliumNetworkPolicy' as const, namespace: 'default', name: 'rule1' };

describe('PolicyRepository', () => {
  it('starts at revision 1 and counts one revision per change', () => {
    const repo = new PolicyRepository();
    assert.equal(repo.revision, 1);
    assert.deepEqual(repo.import(l34()), { revision: 2, results: [{ ref: ref1, action: 'created' }] });
    assert.deepEqual(repo.import(l34()), { revision: 2, results: [{ ref: ref1, action: 'unchanged' }] });
    assert.deepEqual(repo.import(l7()), { revision: 3, results: [{ ref: ref1, action: 'configured' }] });
    assert.equal(repo.get(ref1)?.revision, 3);
    assert.equal(repo.list().length, 1);
  });

  it('counts one revision for an import of several policies', () => {
    const repo = new PolicyRepository();
    const res = repo.import([...l34(), ...other()]);
    assert.equal(res.revision, 2);
    assert.deepEqual(res.results.map((r) => r.action), ['created', 'created']);
  });

  it('replaces a policy in place, keeping repository order', () => {
    const repo = new PolicyRepository();
    repo.import([...l34(), ...other()]);
    repo.import(l7());
    assert.deepEqual(repo.list().map((p) => p.ref.name), ['rule1', 'rule2']);
    assert.equal(repo.list()[0]!.rules[0]!.description, 'L7 policy to restrict access to specific HTTP call');
  });

  it('changes nothing when an import is invalid', () => {
    const repo = new PolicyRepository();
    repo.import(l34());
    assert.throws(() => repo.import([...l7(), ...other(), ...l7()]), { code: 'EINVAL', path: '[2]' });
    assert.equal(repo.revision, 2);
    assert.equal(repo.get(ref1)?.rules[0]!.description, undefined);
    assert.equal(repo.list().length, 1);
  });

  it('deletes one policy, all policies, and refuses to delete a missing one', () => {
    const repo = new PolicyRepository();
    repo.import([...l34(), ...other()]);
    assert.deepEqual(repo.delete(ref1), { revision: 3, deleted: [ref1] });
    assert.throws(() => repo.delete(ref1), { code: 'ENOTFOUND' });
    assert.equal(repo.deleteAll().deleted.length, 1);
    assert.equal(repo.revision, 4);
    assert.deepEqual(repo.deleteAll(), { revision: 4, deleted: [] });
  });

  it('gives each section entry a stable non-zero cookie that describes it', () => {
    const text = `apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: multi}\nspec:\n  endpointSelector: {}\n` +
      `  ingress: [{}, {fromEntities: [world]}]\nspecs:\n- endpointSelector: {}\n  egressDeny: [{toEntities: [all]}]\n`;
    const repo = new PolicyRepository();
    repo.import(parsePolicyText(text));
    const ref = { kind: 'CiliumNetworkPolicy' as const, namespace: 'default', name: 'multi' };
    const cookies = [repo.cookie(ref, 0, 'ingress', 0), repo.cookie(ref, 0, 'ingress', 1), repo.cookie(ref, 1, 'egressDeny', 0)];
    assert.equal(new Set(cookies).size, 3);
    for (const c of cookies) assert.ok(c > 0 && c <= 0xffffffff);
    assert.deepEqual(repo.describeCookie(cookies[1]!), { ref, ruleIndex: 0, section: 'ingress', index: 1, path: 'spec.ingress[1]' });
    assert.deepEqual(repo.describeCookie(cookies[2]!)?.path, 'specs[0].egressDeny[0]');

    const again = new PolicyRepository();
    again.import(parsePolicyText(text));
    assert.equal(again.cookie(ref, 1, 'egressDeny', 0), cookies[2], 'the same rule gets the same cookie after a restart');
    repo.delete(ref);
    assert.equal(repo.describeCookie(cookies[0]!), undefined);
  });

  it('lists policies for the REST API', () => {
    const repo = new PolicyRepository({ revision: 10 });
    repo.import(l34());
    const model = repo.toListModel();
    assert.equal(model.revision, 11);
    assert.equal(model.policies.length, 1);
    const listed = model.policies[0]!;
    assert.deepEqual({ ...listed, object: undefined, rules: undefined }, { ...ref1, revision: 11, object: undefined, rules: undefined });
    assert.equal(listed.object, repo.get(ref1)!.object, 'the object as imported');
    assert.equal(listed.rules.length, 1);
    const rule = listed.rules[0] as Record<string, unknown>;
    assert.deepEqual(rule['endpointSelector'], {
      matchLabels: { 'any:class': 'deathstar', 'any:org': 'empire', 'k8s:io.kubernetes.pod.namespace': 'default' },
    });
    assert.deepEqual(rule['ingress'], [{
      fromEndpoints: [{ matchLabels: { 'any:org': 'empire', 'k8s:io.kubernetes.pod.namespace': 'default' } }],
      toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }],
    }]);
    assert.deepEqual(rule['labels'], [
      { key: 'io.cilium.k8s.policy.derived-from', value: 'CiliumNetworkPolicy', source: 'k8s' },
      { key: 'io.cilium.k8s.policy.name', value: 'rule1', source: 'k8s' },
      { key: 'io.cilium.k8s.policy.namespace', value: 'default', source: 'k8s' },
    ]);
    assert.equal(rule['description'], undefined, 'the L3/L4 policy describes itself at the top level, not per rule');
    assert.deepEqual(JSON.parse(JSON.stringify(model)), model, 'plain JSON, as the REST API sends it');
  });
});
