import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deathstarPods, destinationCounts, firstLine, httpFlowLine, parseEndpointList, parseTable, policyDropLine, policyDropLines, type PodJson } from './checks.js';
import { shellQuote } from './runner.js';

describe('demo output checks', () => {
  it('reads a kubectl-style table into rows', () => {
    const rows = parseTable('NAME    READY   STATUS\nxwing   1/1     Running\ndeathstar-abc   0/1     Failed\n');
    assert.deepEqual(rows, [{ NAME: 'xwing', READY: '1/1', STATUS: 'Running' }, { NAME: 'deathstar-abc', READY: '0/1', STATUS: 'Failed' }]);
  });

  it('reads endpoint list rows whose labels span several lines', () => {
    const text = [
      'ENDPOINT   POLICY (ingress) ENFORCEMENT   POLICY (egress) ENFORCEMENT   IDENTITY   LABELS (source:key[=value])   IPv4         STATUS',
      '12         Enabled                        Disabled                      3838       k8s:app.kubernetes.io/name=deathstar   10.244.1.2   ready',
      '                                                                                   k8s:class=deathstar',
      '                                                                                   k8s:org=empire',
      '31         Disabled                       Disabled                      30862      k8s:class=xwing               10.244.1.5   ready',
    ].join('\n');
    const rows = parseEndpointList(text);
    assert.equal(rows.length, 2);
    assert.equal(rows[0]!.ingress, 'Enabled');
    assert.ok(rows[0]!.text.includes('k8s:class=deathstar'));
    assert.equal(rows[1]!.ingress, 'Disabled');
    assert.ok(!rows[1]!.text.includes('deathstar'));
  });

  it('picks the deathstar pods, sorted by name', () => {
    const pod = (name: string, cls: string): PodJson => ({ namespace: 'default', name, ip: `ip-${name}`, status: 'Running', labels: { org: 'empire', class: cls } });
    assert.deepEqual(deathstarPods([pod('tiefighter', 'tiefighter'), pod('deathstar-b', 'deathstar'), pod('deathstar-a', 'deathstar')]).map((p) => p.name),
      ['deathstar-a', 'deathstar-b']);
    assert.deepEqual(deathstarPods([pod('tiefighter', 'tiefighter')]), []);
  });

  it('counts the flows that went to each deathstar replica, by the destination side only', () => {
    const text = [
      'Nov 27 09:24:59.789: default/tiefighter:51574 (ID:258) -> default/deathstar-6b-tpbs5:80 (ID:257) via default/deathstar (10.97.239.136:80) policy-verdict:all INGRESS ALLOWED (TCP Flags: SYN)',
      'Nov 27 09:24:59.803: default/tiefighter:51588 (ID:258) -> default/deathstar-6b-rfbfh:80 (ID:257) via default/deathstar (10.97.239.136:80) policy-verdict:all EGRESS ALLOWED (TCP Flags: SYN)',
      'Nov 27 09:24:59.803: default/tiefighter:51588 (ID:258) -> default/deathstar-6b-rfbfh:80 (ID:257) policy-verdict:all INGRESS ALLOWED (TCP Flags: SYN)',
      'Nov 27 09:24:59.804: default/deathstar-6b-tpbs5:80 (ID:257) <- default/tiefighter:51588 (ID:258) to-endpoint FORWARDED',
    ].join('\n');
    const counts = destinationCounts(text, ['default/deathstar-6b-tpbs5', 'default/deathstar-6b-rfbfh', 'default/deathstar-6b-zzzzz']);
    assert.deepEqual([...counts.entries()], [['default/deathstar-6b-tpbs5', 1], ['default/deathstar-6b-rfbfh', 2]]);
  });

  it('finds the policy drop lines of observe output', () => {
    const text = [
      'Nov 27 07:23:09.855: default/xwing:50210 (ID:30862) <> default/deathstar-x:80 (ID:3838) policy-verdict:none INGRESS DENIED (TCP Flags: SYN)',
      'Nov 27 07:23:09.855: default/xwing:50210 (ID:30862) <> default/deathstar-x:80 (ID:3838) Policy denied DROPPED (TCP Flags: SYN)',
    ].join('\n');
    assert.deepEqual(policyDropLines(text), [text.split('\n')[1]]);
  });

  it("finds the xwing's drop toward one deathstar pod, and not another ship's or another pod's", () => {
    const drop = (from: string, to: string) => `Nov 27 07:23:09.855: ${from}:50210 (ID:30862) <> ${to}:80 (ID:3838) Policy denied DROPPED (TCP Flags: SYN)`;
    const text = [
      drop('default/tiefighter', 'default/deathstar-a'),
      drop('default/xwing', 'default/deathstar-b'),
      'Nov 27 07:23:09.855: default/xwing:50210 (ID:30862) <> default/deathstar-a:80 (ID:3838) policy-verdict:none INGRESS DENIED (TCP Flags: SYN)',
    ].join('\n');
    assert.equal(policyDropLine(text, 'default/xwing', 'default/deathstar-a'), undefined);
    assert.equal(policyDropLine(text, 'default/xwing', 'default/deathstar-b'), drop('default/xwing', 'default/deathstar-b'));
    assert.equal(policyDropLine(drop('default/deathstar-b', 'default/xwing'), 'default/xwing', 'default/deathstar-b'), undefined, 'the xwing must be the source');
  });

  it('finds the L7 flow line between a client and one of the servers, request or response', () => {
    const url = 'http://deathstar.default.svc.cluster.local';
    const req = `Nov 27 07:23:10.001: default/tiefighter:41234 (ID:257) -> default/deathstar-b:80 (ID:256) http-request DROPPED (HTTP/1.1 PUT ${url}/v1/exhaust-port)`;
    const res = `Nov 27 07:23:10.002: default/tiefighter:41234 (ID:257) <- default/deathstar-b:80 (ID:256) http-response FORWARDED (HTTP/1.1 403 0ms (PUT ${url}/v1/exhaust-port))`;
    const text = [req, res].join('\n');
    const servers = ['default/deathstar-a', 'default/deathstar-b'];
    assert.equal(httpFlowLine(text, 'default/tiefighter', servers, `http-request DROPPED (HTTP/1.1 PUT ${url}/v1/exhaust-port)`), req);
    assert.equal(httpFlowLine(text, 'default/tiefighter', servers, 'http-response FORWARDED (HTTP/1.1 403 '), res);
    assert.equal(httpFlowLine(text, 'default/xwing', servers, 'http-request'), undefined);
    assert.equal(httpFlowLine(text, 'default/tiefighter', ['default/deathstar-a'], 'http-request'), undefined);
  });

  it('takes the first line of an output', () => {
    assert.equal(firstLine('Panic: deathstar exploded\n\ngoroutine 1 [running]:\n'), 'Panic: deathstar exploded');
    assert.equal(firstLine(''), '');
  });

  it('quotes printed command arguments only when a shell needs it', () => {
    assert.equal(shellQuote('-XPOST'), '-XPOST');
    assert.equal(shellQuote('http://10.244.1.2/v1/request-landing'), 'http://10.244.1.2/v1/request-landing');
    assert.equal(shellQuote('exit 7'), "'exit 7'");
    assert.equal(shellQuote("it's"), `'it'\\''s'`);
  });
});
