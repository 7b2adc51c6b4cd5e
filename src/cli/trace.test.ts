import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../common/errors.js';
import type { PolicyTraceRequest, PolicyTraceResponse } from '../api/types.js';
import { formatTrace, formatVerdict, parsePeerFlag, parsePortFlag, traceRequestFromFlags } from './trace.js';

const rule1 = { kind: 'CiliumNetworkPolicy' as const, namespace: 'default', name: 'rule1' };

describe('policy trace flags', () => {
  it('reads NS/POD, an address, or comma-separated labels', () => {
    assert.deepEqual(parsePeerFlag('default/web', '--from'), { pod: { namespace: 'default', name: 'web' } });
    assert.deepEqual(parsePeerFlag('10.244.1.7', '--to'), { ip: '10.244.1.7' });
    assert.deepEqual(parsePeerFlag('app=web,k8s:tier=db', '--from'), { labels: ['app=web', 'k8s:tier=db'] });
    assert.deepEqual(parsePeerFlag('app.kubernetes.io/name=web', '--from'), { labels: ['app.kubernetes.io/name=web'] }, 'a / in a label key is no pod');
    assert.deepEqual(parsePeerFlag('reserved:world', '--to'), { labels: ['reserved:world'] });
    assert.throws(() => parsePeerFlag('web', '--from'), (e: ValidationError) => e.path === '--from' && /"web"/.test(e.message));
    assert.throws(() => parsePeerFlag('a/b/c', '--to'), (e: ValidationError) => e.path === '--to');
  });

  it('reads PORT/PROTOCOL, TCP when the protocol is left out', () => {
    assert.deepEqual(parsePortFlag('80/tcp'), { port: 80, protocol: 'TCP' });
    assert.deepEqual(parsePortFlag('53/UDP'), { port: 53, protocol: 'UDP' });
    assert.deepEqual(parsePortFlag('443'), { port: 443, protocol: 'TCP' });
    assert.throws(() => parsePortFlag('http'), (e: ValidationError) => e.path === '--port');
  });

  it('checks the request as the agent does and names the flag', () => {
    assert.deepEqual(traceRequestFromFlags({ from: 'default/a', to: '10.0.0.1', port: '8/icmp' }),
      { from: { pod: { namespace: 'default', name: 'a' } }, to: { ip: '10.0.0.1' }, port: 8, protocol: 'ICMP' });
    const bad = (flags: { from: string; to: string; port: string }) => {
      try {
        traceRequestFromFlags(flags);
      } catch (err) {
        assert.ok(err instanceof ValidationError);
        return err.message;
      }
      assert.fail('expected a ValidationError');
    };
    assert.equal(bad({ from: 'default/a', to: '10.0.0.1', port: '70000/tcp' }), '--port: 70000 is not a port (1-65535) for TCP');
    assert.equal(bad({ from: 'default/a', to: '10.0.0.1', port: '80/http' }), '--port: "HTTP" is not one of TCP, UDP, SCTP, ICMP');
    assert.match(bad({ from: 'Default/a', to: '10.0.0.1', port: '80' }), /^--from: "Default" is not a namespace name/);
    assert.match(bad({ from: 'default/a', to: 'cidr:10.0.0.0/8=x', port: '80' }), /^--to: /);
  });
});

describe('policy trace text', () => {
  it('says which rule allowed, which denied, and who set the default deny', () => {
    assert.equal(formatVerdict({ verdict: 'allowed', matchType: 'L3-L4', enforcing: true, rule: { ...rule1, path: 'spec.egress[0]' } }),
      'allowed (L3-L4, CiliumNetworkPolicy default/rule1 spec.egress[0])');
    assert.equal(formatVerdict({ verdict: 'denied', dropReason: 133, matchType: 'none', enforcing: true, defaultDenyBy: [rule1] }),
      'denied (default deny: policy denied, 133; default deny set by CiliumNetworkPolicy default/rule1)');
    assert.equal(formatVerdict({ verdict: 'denied', dropReason: 133, matchType: 'none', enforcing: true }),
      'denied (default deny: policy denied, 133)');
    assert.equal(formatVerdict({ verdict: 'denied', dropReason: 181, matchType: 'L3-L4', enforcing: true,
      rule: { kind: 'CiliumNetworkPolicy', namespace: 'default', name: 'x', path: 'spec.ingressDeny[0]' } }),
    'denied by CiliumNetworkPolicy default/x spec.ingressDeny[0] (181)');
    assert.equal(formatVerdict({ verdict: 'denied', dropReason: 181, matchType: 'L3-Only', enforcing: true,
      rule: { kind: 'CiliumClusterwideNetworkPolicy', namespace: '', name: 'deny-all', path: 'spec.egressDeny[1]' } }),
    'denied by CiliumClusterwideNetworkPolicy deny-all spec.egressDeny[1] (181)');
    assert.equal(formatVerdict({ verdict: 'denied', dropReason: 133, matchType: 'none', enforcing: true, defaultDenyBy: [rule1], audited: true }),
      'denied (default deny: policy denied, 133; default deny set by CiliumNetworkPolicy default/rule1), audited: the packet passes (AUDIT)');
    assert.match(formatVerdict({ verdict: 'not enforced', matchType: 'all', enforcing: false }), /^allowed \(not enforced/);
  });

  it('says when an allowed port is redirected to the L7 proxy, and which HTTP rules it enforces', () => {
    assert.equal(formatVerdict({ verdict: 'allowed', matchType: 'L3-L4', enforcing: true, rule: { ...rule1, path: 'spec.ingress[0]' },
      l7: { proxyPort: 15001, http: [{ method: 'POST', path: '/v1/request-landing' }] } }),
    'allowed at L3/L4 (L3-L4, CiliumNetworkPolicy default/rule1 spec.ingress[0]), redirected to the L7 proxy (port 15001): ' +
      'an HTTP request passes if it matches one of {"method":"POST","path":"/v1/request-landing"}');
  });

  it('prints both identities with their labels, each direction, and the final verdict', () => {
    const req: PolicyTraceRequest = { from: { pod: { namespace: 'default', name: 'web' } }, to: { ip: '192.0.2.1' }, port: 80, protocol: 'TCP' };
    const res: PolicyTraceResponse = {
      from: { identity: 256, labels: ['k8s:app=web', 'k8s:io.kubernetes.pod.namespace=default'],
        endpoint: { id: 3, ipv4: '10.244.7.5', podNamespace: 'default', podName: 'web' } },
      to: { identity: 2, labels: ['reserved:world'] },
      egress: { verdict: 'allowed', matchType: 'L4-Only', enforcing: true, rule: { ...rule1, path: 'spec.egress[0]' } },
      verdict: 'allowed',
    };
    assert.equal(formatTrace(req, res), [
      'From: default/web (endpoint 3, 10.244.7.5), identity 256',
      '  k8s:app=web',
      '  k8s:io.kubernetes.pod.namespace=default',
      'To: 192.0.2.1 (not an endpoint of this node), identity 2',
      '  reserved:world',
      'Port: 80/TCP',
      '',
      'Egress verdict: allowed (L4-Only, CiliumNetworkPolicy default/rule1 spec.egress[0])',
      'Ingress verdict: not checked (the destination is not an endpoint of this node)',
      'Final verdict: allowed',
      '',
    ].join('\n'));
  });

  it('marks a label set whose identity is not allocated yet', () => {
    const req: PolicyTraceRequest = { from: { labels: ['app=new'] }, to: { pod: { namespace: 'default', name: 'web' } }, port: 81, protocol: 'TCP' };
    const res: PolicyTraceResponse = {
      from: { identity: 258, labels: ['k8s:app=new'], unallocated: true },
      to: { identity: 256, labels: ['k8s:app=web'], endpoint: { id: 3, ipv4: '10.244.7.5' } },
      egress: { verdict: 'not enforced', matchType: 'all', enforcing: false },
      ingress: { verdict: 'denied', dropReason: 133, matchType: 'none', enforcing: true, defaultDenyBy: [rule1] },
      verdict: 'denied',
    };
    const text = formatTrace(req, res);
    assert.match(text, /^From: app=new \(labels\), identity 258 \(not allocated yet\)$/m);
    assert.match(text, /^Ingress verdict: denied \(default deny: policy denied, 133; default deny set by CiliumNetworkPolicy default\/rule1\)$/m);
    assert.match(text, /^Final verdict: denied$/m);
  });
});
