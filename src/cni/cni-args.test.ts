import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseCniArgs, parseLabelList, podLabels } from './cni-args.js';
import { CniError } from './errors.js';

const code = (fn: () => unknown): number => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CniError);
    return err.code;
  }
  return 0;
};

describe('parseCniArgs', () => {
  it('reads the pod identity kubelet passes', () => {
    assert.deepEqual(parseCniArgs('IgnoreUnknown=1;K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web-1;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u1'), {
      podNamespace: 'prod', podName: 'web-1', infraContainerId: 'abc', labels: {},
    });
  });

  it('is empty for an empty CNI_ARGS', () => {
    assert.deepEqual(parseCniArgs(''), { labels: {} });
  });

  it('reads labels from MEMBRANE_LABELS, whose value holds "=" itself', () => {
    assert.deepEqual(parseCniArgs('MEMBRANE_LABELS=app=web,tier=front').labels, { app: 'web', tier: 'front' });
  });

  it('rejects an unknown argument unless IgnoreUnknown is set, naming it', () => {
    assert.throws(() => parseCniArgs('FOO=1'), /unknown argument "FOO"/);
    assert.equal(code(() => parseCniArgs('FOO=1')), 4);
    assert.deepEqual(parseCniArgs('IgnoreUnknown=1;FOO=1'), { labels: {} });
    assert.deepEqual(parseCniArgs('IgnoreUnknown=true;FOO=1'), { labels: {} });
    assert.equal(code(() => parseCniArgs('IgnoreUnknown=0;FOO=1')), 4);
  });

  it('rejects a pair without "="', () => {
    assert.equal(code(() => parseCniArgs('IgnoreUnknown=1;oops')), 4);
  });
});

describe('parseLabelList', () => {
  it('splits k=v pairs and keeps empty values', () => {
    assert.deepEqual(parseLabelList('a=1,b='), { a: '1', b: '' });
  });
  it('rejects an item without a key', () => {
    assert.throws(() => parseLabelList('a=1,=2'), /"=2" is not key=value/);
    assert.throws(() => parseLabelList('a'), /"a" is not key=value/);
  });
});

describe('podLabels', () => {
  it('lets CNI_ARGS labels override the configuration\'s', () => {
    assert.deepEqual(podLabels({ app: 'a', env: 'dev' }, { labels: { app: 'b' } }), { app: 'b', env: 'dev' });
  });
});
