/**
 * A metrics scrape with real traffic: a test node's agent serves /metrics on
 * the node netns' own loopback (127.0.0.1:9962, unique to this node), and
 * forwarded packets, a policy drop and the flows they make move the counters.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { AgentClient } from '../api/client.js';
import { run } from '../common/exec.js';
import { startTestNode, type TestNode } from '../testing/agent.js';
import { requireRoot } from '../testing/names.js';
import { addTestPod, type TestPod } from '../testing/pods.js';

const HTTP_SERVER = `require('http').createServer((q, s) => s.end('ok\\n')).listen(8080, () => console.log('listening'))`;

/** The value of one series in a text exposition; 0 when the series is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = m[2] ? m[2].split(/,(?=\w+=")/) : [];
    if (want.every((w) => have.includes(w))) return Number(m[3]);
  }
  return 0;
}

describe('metrics scrape', () => {
  let node: TestNode;
  const pods: TestPod[] = [];
  let web: TestPod, friend: TestPod, stranger: TestPod;

  before(async () => {
    requireRoot();
    node = await startTestNode({ podCIDR: '10.244.31.0/24' });
    web = await addTestPod(node, 'web', { app: 'web' });
    friend = await addTestPod(node, 'friend', { app: 'friend' });
    stranger = await addTestPod(node, 'stranger', { app: 'stranger' });
    pods.push(web, friend, stranger);
    const srv = web.spawn(['node', '-e', HTTP_SERVER]);
    await new Promise<void>((resolve) => srv.stdout!.on('data', (d: Buffer) => { if (String(d).includes('listening')) resolve(); }));
  });

  after(async () => {
    for (const p of pods) await p.remove();
    await node?.stop();
  });

  /** GET /metrics from inside the node's netns, where the agent listens. */
  const scrape = async (): Promise<string> => {
    const r = await run('nsenter', [`--net=${node.nodeNetnsPath}`, 'curl', '-sS', '--fail', '--max-time', '5', 'http://127.0.0.1:9962/metrics']);
    return r.stdout;
  };
  const curl = async (from: TestPod) =>
    (await from.exec(['curl', '-s', '--connect-timeout', '1', `http://${web.ip}:8080/`], { allowFailure: true, timeoutMs: 10_000 })).code;

  /** Scrapes until `ok` holds (flows reach the metrics asynchronously), at most 5 s. */
  const scrapeUntil = async (ok: (text: string) => boolean): Promise<string> => {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const text = await scrape();
      if (ok(text) || Date.now() > deadline) return text;
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  it('serves /metrics on the node\'s own loopback, and 404 elsewhere', async () => {
    const text = await scrape();
    assert.match(text, /^# TYPE membrane_forward_count_total counter$/m);
    assert.match(text, /^# TYPE hubble_flows_processed_total counter$/m);
    assert.equal(sample(text, 'membrane_endpoint_state', { endpoint_state: 'ready' }), 3);
    assert.ok(sample(text, 'membrane_bpf_map_pressure', { map_name: 'endpoints' }) > 0, 'the endpoints map holds the three pods');
    assert.match(text, /^hubble_lost_events_total\{source="perf_event_ring_buffer"\} \d+$/m);
    const other = await run('nsenter', [`--net=${node.nodeNetnsPath}`, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', 'http://127.0.0.1:9962/other']);
    assert.equal(other.stdout, '404');
  });

  it('moves forward, drop and flow counters with real traffic and a policy denial', async () => {
    const before = await scrape();
    const res = await new AgentClient(node.socket).importPolicies({
      text: `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web-from-friend}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: friend}}]
    toPorts: [{ports: [{port: "8080", protocol: TCP}]}]
`,
    });
    assert.equal(res.results.length, 1);
    assert.equal(await curl(friend), 0, 'friend is allowed');
    assert.equal(await curl(stranger), 28, 'stranger times out: its SYN is dropped');
    const denied = { reason: 'Policy denied', direction: 'INGRESS' };
    const after = await scrapeUntil((t) =>
      sample(t, 'hubble_drop_total', { reason: 'POLICY_DENIED', protocol: 'TCP' }) > sample(before, 'hubble_drop_total', { reason: 'POLICY_DENIED', protocol: 'TCP' }));

    const fwd = (t: string) => sample(t, 'membrane_forward_count_total', { direction: 'INGRESS' }) + sample(t, 'membrane_forward_count_total', { direction: 'EGRESS' });
    assert.ok(fwd(after) > fwd(before), `forwarded packets moved (${fwd(before)} -> ${fwd(after)})`);
    assert.ok(sample(after, 'membrane_forward_bytes_total', { direction: 'INGRESS' }) > sample(before, 'membrane_forward_bytes_total', { direction: 'INGRESS' }));
    assert.ok(sample(after, 'membrane_drop_count_total', denied) > sample(before, 'membrane_drop_count_total', denied), 'a "Policy denied" drop was counted');
    assert.ok(sample(after, 'membrane_drop_bytes_total', denied) > 0);
    const flows = (t: string, labels: Record<string, string>) => sample(t, 'hubble_flows_processed_total', labels);
    assert.ok(flows(after, { type: 'PolicyVerdict', verdict: 'FORWARDED' }) > flows(before, { type: 'PolicyVerdict', verdict: 'FORWARDED' }), 'the allowed connection made a flow');
    assert.ok(flows(after, { type: 'Drop', verdict: 'DROPPED' }) > flows(before, { type: 'Drop', verdict: 'DROPPED' }), 'the drop made a flow');
    assert.ok(sample(after, 'hubble_policy_verdicts_total', { direction: 'ingress', match: 'l3-l4', action: 'forwarded' }) >= 1);
    assert.ok(sample(after, 'hubble_policy_verdicts_total', { direction: 'ingress', action: 'dropped' }) >= 1);
    assert.ok(sample(after, 'hubble_port_distribution_total', { protocol: 'TCP', port: '8080' }) >= 1);
    assert.ok(sample(after, 'hubble_tcp_flags_total', { flag: 'SYN', family: 'IPv4' }) >= 1);
    assert.ok(sample(after, 'membrane_policy_max_revision') > sample(before, 'membrane_policy_max_revision'), 'the policy revision moved');
    assert.ok(sample(after, 'membrane_endpoint_regeneration_time_stats_seconds_count', { scope: 'total', status: 'success' }) >
      sample(before, 'membrane_endpoint_regeneration_time_stats_seconds_count', { scope: 'total', status: 'success' }), 'the import regenerated');
    assert.ok(sample(after, 'membrane_bpf_map_pressure', { map_name: 'policy' }) > 0, 'the policy map holds entries');
    assert.ok(sample(after, 'membrane_agent_api_process_time_seconds_count', { method: 'PUT', path: '/v1/policies', return_code: '200' }) >= 1);
    assert.doesNotMatch(after, /path="\/v1\/endpoints\/\d/, 'API paths are templates, never raw ids');
  });

  it('serves the same text on the agent socket at /v1/metrics/prometheus', async () => {
    const text = await new Promise<string>((resolve, reject) => {
      http.get({ socketPath: node.socket, path: '/v1/metrics/prometheus' }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => { body += c; });
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`status ${res.statusCode}: ${body}`))));
      }).on('error', reject);
    });
    assert.match(text, /^membrane_drop_count_total\{reason="Policy denied",direction="INGRESS"\} \d+$/m);
  });
});
