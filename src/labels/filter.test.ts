import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { filterLabels } from './filter.js';
import { LabelSet } from './labels.js';
import { buildPodLabels } from './podlabels.js';

describe('label filter', () => {
  it('keeps user labels and drops Kubernetes bookkeeping labels', () => {
    const { identityLabels, infoLabels } = filterLabels(LabelSet.parse([
      'k8s:org=empire', 'k8s:pod-template-hash=5d8f', 'k8s:controller-revision-hash=abc', 'k8s:statefulset.kubernetes.io/pod-name=db-0',
      'k8s:io.kubernetes.container.name=x', 'k8s:kubernetes.io/hostname=n1', 'k8s:failure-domain.beta.kubernetes.io/zone=a',
      'k8s:topology.kubernetes.io/zone=a', 'k8s:annotation.foo=bar', 'k8s:k8s.io/x=y', 'k8s:batch.kubernetes.io/controller-uid=u',
      'k8s:controller-uid=u', 'k8s:pod-template-generation=1', 'k8s:apps.kubernetes.io/pod-index=0', 'k8s:etcd_node=e',
    ]));
    assert.deepEqual(identityLabels.toStrings(), ['k8s:org=empire']);
    assert.equal(infoLabels.size, 14);
  });

  it('keeps the included prefixes even where an exclusion would match', () => {
    const { identityLabels } = filterLabels(LabelSet.parse([
      'k8s:io.kubernetes.pod.namespace=default', 'k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=default',
      'k8s:app.kubernetes.io/name=deathstar', 'k8s:io.cilium.k8s.policy.cluster=default',
      'k8s:io.cilium.k8s.policy.serviceaccount=default', 'reserved:host',
    ]));
    assert.equal(identityLabels.size, 6);
  });

  it('treats an include-only configuration as a whitelist', () => {
    const { identityLabels } = filterLabels(LabelSet.parse(['k8s:org=empire', 'k8s:class=x']),
      { include: [{ keyPrefix: /^org/ }], exclude: [], includeOnly: true });
    assert.deepEqual(identityLabels.toStrings(), ['k8s:org=empire']);
  });
});

describe('pod labels', () => {
  it('builds the identity labels Cilium shows for a Star Wars pod', () => {
    const { identityLabels, infoLabels } = buildPodLabels({
      namespace: 'default',
      podLabels: { org: 'empire', class: 'deathstar', 'app.kubernetes.io/name': 'deathstar', 'pod-template-hash': '7c' },
      namespaceLabels: { 'kubernetes.io/metadata.name': 'default' },
      serviceAccount: 'default',
      clusterName: 'default',
    });
    assert.deepEqual(identityLabels.toStrings(), [
      'k8s:app.kubernetes.io/name=deathstar',
      'k8s:class=deathstar',
      'k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=default',
      'k8s:io.cilium.k8s.policy.cluster=default',
      'k8s:io.cilium.k8s.policy.serviceaccount=default',
      'k8s:io.kubernetes.pod.namespace=default',
      'k8s:org=empire',
    ]);
    assert.deepEqual(infoLabels.toStrings(), ['k8s:pod-template-hash=7c']);
  });

  it('omits the service account and cluster labels when they are not given', () => {
    const { identityLabels } = buildPodLabels({ namespace: 'ns1', podLabels: {} });
    assert.deepEqual(identityLabels.toStrings(), ['k8s:io.kubernetes.pod.namespace=ns1']);
  });

  it('does not let a pod label override the namespace label', () => {
    const { identityLabels } = buildPodLabels({ namespace: 'ns1', podLabels: { 'io.kubernetes.pod.namespace': 'kube-system' } });
    assert.equal(identityLabels.get('io.kubernetes.pod.namespace')?.value, 'ns1');
  });
});
