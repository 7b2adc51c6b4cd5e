import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ValidationError } from '../common/errors.js';
import { resolvConf } from './dns-resolvconf.js';

describe('pod resolv.conf', () => {
  it('points at the cluster DNS and searches the namespace, svc and the domain with ndots:5, as the kubelet writes it', () => {
    assert.equal(resolvConf('default', '10.96.0.10'), [
      'nameserver 10.96.0.10',
      'search default.svc.cluster.local svc.cluster.local cluster.local',
      'options ndots:5',
      '',
    ].join('\n'));
  });

  it('takes another domain', () => {
    assert.match(resolvConf('empire', '10.96.0.10', 'lab.example'), /^search empire\.svc\.lab\.example svc\.lab\.example lab\.example$/m);
  });

  it('refuses a namespace, nameserver or domain that would write a broken file', () => {
    assert.throws(() => resolvConf('Default', '10.96.0.10'), (e) => e instanceof ValidationError && e.path === 'namespace');
    assert.throws(() => resolvConf('a.b', '10.96.0.10'), (e) => e instanceof ValidationError && e.path === 'namespace');
    assert.throws(() => resolvConf('default', 'kube-dns'), (e) => e instanceof ValidationError && e.path === 'nameserver');
    assert.throws(() => resolvConf('default', '10.96.0.10', 'cluster local'), (e) => e instanceof ValidationError && e.path === 'domain');
  });
});
