import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LabelSet } from '../labels/labels.js';
import { parsePolicyText } from './parse.js';
import { PolicyRepository } from './repository.js';
import { resolveEndpointPolicy } from './resolve.js';
import { lookupPolicy } from './lookup.js';
import { policyKey } from './mapstate.js';

const me = LabelSet.parse(['k8s:app=web', 'k8s:io.kubernetes.pod.namespace=default']);
const friend = LabelSet.parse(['k8s:app=friend', 'k8s:io.kubernetes.pod.namespace=default']);
const identities = [{ id: 300, labels: me }, { id: 301, labels: friend }];

function policy(name: string, audit: string | undefined, body: string): string {
  return `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: ${name}
${audit === undefined ? '' : `  annotations: {policy.membrane.io/audit-mode: "${audit}"}\n`}spec:
  endpointSelector: {matchLabels: {app: web}}
${body}`;
}

function resolve(...texts: string[]) {
  const repo = new PolicyRepository();
  repo.import(texts.flatMap((t) => parsePolicyText(t)));
  return resolveEndpointPolicy({ endpointLabels: me, repository: repo, identities, enforcement: 'default' });
}

describe('audit mode per policy', () => {
  it('reports the default deny of a direction only audited policies enforce', () => {
    const res = resolve(policy('p', 'true', '  ingress: [{fromEndpoints: [{matchLabels: {app: friend}}]}]\n'));
    assert.equal(res.ingressEnforcing, true);
    assert.deepEqual(res.auditDefaultDeny, { ingress: true, egress: false });
    assert.equal(lookupPolicy(res.mapState, 301, false, 6, 80).verdict, 'allow', 'its allows still allow');
  });

  it('enforces the default deny as soon as one enforcing policy asks for it', () => {
    const res = resolve(
      policy('audited', 'true', '  ingress: [{fromEndpoints: [{matchLabels: {app: friend}}]}]\n'),
      policy('enforced', 'false', '  ingress: [{fromEndpoints: [{matchLabels: {app: friend}}]}]\n'),
    );
    assert.deepEqual(res.auditDefaultDeny, { ingress: false, egress: false });
  });

  it('keeps an audited policy\'s denies in their own key space, consulted only for what enforced entries allow', () => {
    const deny = '  ingressDeny: [{fromEndpoints: [{matchLabels: {app: friend}}]}]\n';
    const audited = resolve(policy('a', 'true', deny));
    assert.equal(audited.mapState.get(policyKey(301, false, 0, 0, 0, true))?.audit, true);
    assert.equal(audited.mapState.get(policyKey(301, false, 0, 0, 0)), undefined);
    const both = resolve(policy('a', 'true', deny), policy('b', undefined, deny));
    assert.equal(both.mapState.get(policyKey(301, false, 0, 0, 0))?.deny, true, 'the enforced deny stands in the enforced key space');
    assert.equal(lookupPolicy(both.mapState, 301, false, 6, 80).entry?.audit, undefined, 'and decides');
  });

  it('does not let an audited deny open what an enforced default deny drops', () => {
    const res = resolve(
      policy('enforced', 'false', '  ingress: [{fromEndpoints: [{matchLabels: {app: nobody}}]}]\n'),
      policy('audited', 'true', '  enableDefaultDeny: {ingress: false}\n  ingressDeny: [{fromEndpoints: [{matchLabels: {app: friend}}]}]\n'),
    );
    assert.equal(lookupPolicy(res.mapState, 301, false, 6, 80).verdict, 'default-deny');
  });

  it('rejects an audit annotation that is not true or false, naming it', () => {
    assert.throws(() => parsePolicyText(policy('p', 'yes', '  ingress: [{}]\n')),
      (err: Error & { path?: string }) => err.path === 'metadata.annotations["policy.membrane.io/audit-mode"]' && /"yes" is not "true" or "false"/.test(err.message));
  });
});
