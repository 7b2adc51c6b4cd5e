import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatL7Table, haproxyConfig, type L7Rule, parseWrk, SIDECAR_RULE, wrkDurationMs } from './l7.js';

const WRK = `Running 5s test @ http://10.244.23.3:8080/bench/x
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   612.45us  301.22us  12.01ms   91.00%
    Req/Sec    12.95k     1.02k   14.00k    72.00%
  Latency Distribution
     50%  540.00us
     75%  680.00us
     90%  810.00us
     99%    1.92ms
  64451 requests in 5.00s, 4.73MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  12890.20
Transfer/sec:    0.95MB
`;

describe('L7 benchmark helpers', () => {
  it('reads wrk durations in us, ms, s', () => {
    assert.equal(wrkDurationMs('540.00us'), 0.54);
    assert.equal(wrkDurationMs('1.92ms'), 1.92);
    assert.equal(wrkDurationMs('1.02s'), 1020);
    assert.throws(() => wrkDurationMs('fast'), /not a wrk duration/);
  });

  it('reads a wrk --latency report: rate, p50, p99 and every kind of error', () => {
    assert.deepEqual(parseWrk(WRK), { requestsPerSec: 12890.2, p50Ms: 0.54, p99Ms: 1.92, errors: 7 });
    assert.throws(() => parseWrk('unable to connect'), /wrk printed no figures/);
  });

  it('tables L7 against the L3/L4 baseline of the same traffic', () => {
    const s = (rule: L7Rule, mode: 'keep-alive' | 'new connection per request', rps: number) =>
      ({ rule, mode, requestsPerSec: rps, p50Ms: 1, p99Ms: 2, errors: 0, proxyCpuUs: 40, agentCpuUs: 8 });
    const table = formatL7Table({ reps: 1, secs: 5, connections: 8, haproxyVersion: '2.6.12', samples: [
      s('L3/L4 only', 'keep-alive', 10000), s('L7 (HTTP rules)', 'keep-alive', 6000), s(SIDECAR_RULE, 'keep-alive', 4500),
      s('L3/L4 only', 'new connection per request', 4000), s('L7 (HTTP rules)', 'new connection per request', 1000),
    ] });
    assert.match(table, /\| keep-alive \| L7 \(HTTP rules\) \| 6,000 \(6,000–6,000\) \| 1\.00 ms \| 2\.00 ms \| 0\.60× \| 0 \| 40, 8 \|/);
    assert.match(table, /\| new connection per request \| L7 \(HTTP rules\) \| 1,000 .* \| 0\.25× \|/);
    assert.match(table, /\| keep-alive \| reference: haproxy sidecar \| 4,500 .* \| 0\.45× \|/);
    // A rule without samples (the sidecar, with Connection: close here) has no row rather than NaN.
    assert.doesNotMatch(table, /new connection per request \| reference|NaN|Infinity/);
  });

  it('writes the sidecar\'s haproxy configuration: a frontend per run, the same HTTP rule, the server over loopback', () => {
    const cfg = haproxyConfig(2, 8300, 8400);
    assert.match(cfg, /frontend f0\n  bind 0\.0\.0\.0:8300\n/);
    assert.match(cfg, /frontend f1\n  bind 0\.0\.0\.0:8301\n/);
    assert.match(cfg, /backend b1\n  server s 127\.0\.0\.1:8401\n/);
    assert.match(cfg, /acl get method GET\n  acl bench path_reg \^\/bench\/\.\*\$\n  http-request deny deny_status 403 unless get bench/);
  });
});
