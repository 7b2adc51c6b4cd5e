/**
 * membrane's L7 proxy end to end, through the real kernel path: a test
 * node with a real agent (which starts its proxy process), an HTTP server
 * pod and two client pods, L7 policies imported through the agent's API.
 * Requests go from the pods' own processes; the datapath redirects them
 * to the proxy, which decides each and opens its upstream from the
 * client's address.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { AgentClient } from '../api/client.js';
import { startTestNode, type TestNode } from '../testing/agent.js';
import { addTestPod, type TestPod } from '../testing/pods.js';
import { waitForLine } from '../testing/tcp.js';
import { requireRoot } from '../testing/names.js';

const PORT = 8080;
/** A server of the node itself (in its netns), which an egress L7 rule towards the host entity guards. */
const HOST_PORT = 8081;

/* The server answers every request with what it saw of it, and prints each request line. */
const SERVER = `require('http').createServer((req, res) => {
  let n = 0;
  req.on('data', (d) => { n += d.length; });
  req.on('end', () => {
    console.log('seen ' + req.method + ' ' + req.url);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ method: req.method, url: req.url, peer: req.socket.remoteAddress, bytes: n }));
  });
}).listen(${PORT}, '0.0.0.0', () => console.log('listening'));`;

interface Reply { status?: number; body?: string; localPort?: number; error?: string }

/**
 * A client script: the requests one after the other, on one keep-alive
 * connection (`keepAlive`) or each on a new one; prints the replies as JSON.
 */
function clientScript(ip: string, requests: { method: string; path: string; body?: string }[], keepAlive: boolean): string {
  return `const http = require('http');
const agent = new http.Agent({ keepAlive: ${keepAlive}, maxSockets: 1 });
const reqs = ${JSON.stringify(requests)};
(async () => {
  const out = [];
  for (const r of reqs) {
    out.push(await new Promise((resolve) => {
      const req = http.request({ agent, host: '${ip}', port: ${PORT}, method: r.method, path: r.path, timeout: 4000, headers: { host: 'l7-server.default.svc.cluster.local' } }, (res) => {
        let body = '';
        res.on('data', (d) => { body += d; });
        res.on('end', () => resolve({ status: res.statusCode, body, localPort: req.socket.localPort }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => resolve({ error: e.code || e.message }));
      req.end(r.body);
    }));
  }
  console.log(JSON.stringify(out));
  agent.destroy();
})();`;
}

async function requests(pod: TestPod, ip: string, reqs: { method: string; path: string; body?: string }[], keepAlive = true): Promise<Reply[]> {
  const res = await pod.exec(['node', '-e', clientScript(ip, reqs, keepAlive)], { timeoutMs: 60_000 });
  return JSON.parse(res.stdout.trim().split('\n').pop()!) as Reply[];
}

function get(node: TestNode, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ socketPath: node.socket, path }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

type AnyFlow = Record<string, any>;

async function flows(node: TestNode): Promise<AnyFlow[]> {
  return (await get(node, '/v1/flows?number=0')).split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as AnyFlow);
}

async function waitFor<T>(what: () => Promise<T | undefined>, timeoutMs = 5_000): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await what();
    if (found !== undefined || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The value of one Prometheus series (labels as given, in any order), 0 when absent. */
function metricValue(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.lastIndexOf('}'));
    const have = Object.fromEntries([...body.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

const POLICY = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: l7-server
spec:
  endpointSelector:
    matchLabels:
      app: l7-server
  ingress:
  - fromEndpoints:
    - matchLabels:
        app: l7-client
    toPorts:
    - ports:
      - port: "${PORT}"
        protocol: TCP
      rules:
        http:
        - method: GET
          path: "/public/.*"
        - method: POST
          path: "/v1/request-landing"
  - fromEndpoints:
    - matchLabels:
        app: l7-egress-client
    toPorts:
    - ports:
      - port: "${PORT}"
        protocol: TCP
      rules:
        http:
        - method: GET
          path: "/egress-ok"
        - method: GET
          path: "/to-server-ok"
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: l7-egress-client
spec:
  endpointSelector:
    matchLabels:
      app: l7-egress-client
  egress:
  - toEndpoints:
    - matchLabels:
        app: l7-server
    toPorts:
    - ports:
      - port: "${PORT}"
        protocol: TCP
      rules:
        http:
        - method: GET
          path: "/egress-ok"
        - method: GET
          path: "/to-server-.*"
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: l7-host-client
spec:
  endpointSelector:
    matchLabels:
      app: l7-host-client
  egress:
  - toEntities: [host]
    toPorts:
    - ports:
      - port: "${HOST_PORT}"
        protocol: TCP
      rules:
        http:
        - method: GET
          path: "/host-ok"
`;

describe('the L7 proxy through the real datapath', () => {
  let node: TestNode;
  let server: TestPod;
  let client: TestPod;
  let egressClient: TestPod;
  let hostClient: TestPod;
  let hostServer: ChildProcess | undefined;
  let api: AgentClient;
  const seen: string[] = [];
  const hostSeen: string[] = [];

  before(async () => {
    requireRoot();
    node = await startTestNode();
    api = new AgentClient(node.socket);
    server = await addTestPod(node, 'l7-server', { app: 'l7-server' });
    client = await addTestPod(node, 'l7-client', { app: 'l7-client' });
    egressClient = await addTestPod(node, 'l7-egress-client', { app: 'l7-egress-client' });
    hostClient = await addTestPod(node, 'l7-host-client', { app: 'l7-host-client' });
    hostServer = spawn('nsenter', [`--net=${node.nodeNetnsPath}`, 'node', '-e', SERVER.replaceAll(String(PORT), String(HOST_PORT))], { stdio: ['ignore', 'pipe', 'inherit'] });
    hostServer.stdout!.on('data', (d: Buffer) => {
      for (const l of d.toString().split('\n')) if (l.startsWith('seen ')) hostSeen.push(l.slice(5));
    });
    assert.ok(await waitForLine(hostServer, /listening/, 10_000), 'the node\'s own server listens');
    const srv = server.spawn(['node', '-e', SERVER]);
    srv.stdout!.on('data', (d: Buffer) => {
      for (const l of d.toString().split('\n')) if (l.startsWith('seen ')) seen.push(l.slice(5));
    });
    assert.ok(await waitForLine(srv, /listening/, 10_000), 'the server pod listens');
    const before = await api.status();
    assert.equal(before.l7Proxy?.enabled, false, 'no proxy runs before any endpoint has L7 rules');
    await api.importPolicies({ text: POLICY });
    const up = await waitFor(async () => ((await api.status()).l7Proxy?.listening.length === 2 ? true : undefined), 10_000);
    assert.ok(up, `the proxy listens on both ports: ${JSON.stringify((await api.status()).l7Proxy)}`);
  });

  after(async () => {
    hostServer?.kill('SIGKILL');
    await hostClient?.remove();
    await client?.remove();
    await egressClient?.remove();
    await server?.remove();
    await node?.stop();
  });

  it('forwards an allowed request from the client\'s own address and answers a denied one 403 "Access denied"', async () => {
    const [allowed, denied] = await requests(client, server.ip, [
      { method: 'POST', path: '/v1/request-landing' },
      { method: 'PUT', path: '/v1/exhaust-port' },
    ], false);
    assert.equal(allowed?.status, 200, JSON.stringify(allowed));
    const body = JSON.parse(allowed!.body!) as { method: string; url: string; peer: string };
    assert.equal(body.url, '/v1/request-landing');
    assert.equal(body.peer, client.ip, 'the server sees the client\'s address');
    assert.equal(denied?.status, 403, JSON.stringify(denied));
    assert.equal(denied?.body, 'Access denied\r\n');
    assert.ok(!seen.includes('PUT /v1/exhaust-port'), 'the denied request never reached the server');
  });

  it('takes a new connection from a client port whose earlier connection the proxy closed (its TIME_WAIT) at once', async () => {
    // Connection: close: the proxy closes first, so its side of the tuple waits out TIME_WAIT in the node while the
    // client's port is free again at once. A client that reuses it (a busy client wraps its ports within a minute)
    // must get through, not see its SYNs dropped for 60 s.
    const script = `const net = require('net');
const one = (i) => new Promise((resolve) => {
  const t = Date.now();
  const s = net.connect({ host: '${server.ip}', port: ${PORT}, localPort: 47123 }, () =>
    s.write('GET /public/reuse-' + i + ' HTTP/1.1\\r\\nHost: l7-server\\r\\nConnection: close\\r\\n\\r\\n'));
  let text = '';
  s.setTimeout(8000, () => s.destroy(new Error('timeout')));
  s.on('data', (d) => { text += d; });
  s.on('error', (e) => resolve({ error: e.message, ms: Date.now() - t }));
  s.on('close', () => resolve({ status: text.split(' ')[1], ms: Date.now() - t }));
});
(async () => { const out = []; for (let i = 0; i < 3; i++) { out.push(await one(i)); await new Promise((r) => setTimeout(r, 200)); } console.log(JSON.stringify(out)); })();`;
    const res = await client.exec(['node', '-e', script], { timeoutMs: 60_000 });
    const out = JSON.parse(res.stdout.trim().split('\n').pop()!) as { status?: string; error?: string; ms: number }[];
    assert.deepEqual(out.map((o) => o.status), ['200', '200', '200'], JSON.stringify(out));
    for (const o of out) assert.ok(o.ms < 3000, `each connection answered within 3 s (a SYN into the TIME_WAIT costs one round trip more, not 60 s): ${JSON.stringify(out)}`);
    assert.ok(seen.includes('GET /public/reuse-2'), 'the last one reached the server');
  });

  it('never lets a connection that reuses a port past the proxy to a server of the node itself', async () => {
    // The proxy closes first (Connection: close), so its side of the tuple waits out TIME_WAIT in the node. A SYN
    // reusing the tuple must not be handed to the node's stack while the node itself listens there: its TIME_WAIT
    // handling would give the connection to the node's server, past the proxy.
    const gateway = node.podCIDR.replace(/\.0\/\d+$/, '.1');
    const script = `const net = require('net');
const one = (method, path, localPort) => new Promise((resolve) => {
  const s = net.connect({ host: '${gateway}', port: ${HOST_PORT}, ...(localPort ? { localPort } : {}) }, () =>
    s.write(method + ' ' + path + ' HTTP/1.1\\r\\nHost: node\\r\\nConnection: close\\r\\n\\r\\n'));
  let text = '';
  s.setTimeout(3000, () => s.destroy(new Error('timeout')));
  s.on('data', (d) => { text += d; });
  s.on('error', (e) => resolve(e.message));
  s.on('close', () => resolve(text.split(' ')[1] || 'closed'));
});
(async () => {
  const out = [await one('GET', '/host-ok'), await one('PUT', '/host-denied', 47321)];
  await new Promise((r) => setTimeout(r, 200));
  out.push(await one('PUT', '/host-bypass', 47321));
  console.log(JSON.stringify(out));
})();`;
    const res = await hostClient.exec(['node', '-e', script], { timeoutMs: 60_000 });
    const [ok, denied, again] = JSON.parse(res.stdout.trim().split('\n').pop()!) as string[];
    assert.equal(ok, '200', 'the rule lets GET /host-ok through to the node\'s server');
    assert.equal(denied, '403');
    assert.notEqual(again, '200', `the reused port's PUT was answered ${again}`);
    assert.deepEqual(hostSeen, ['GET /host-ok'], 'the node\'s server saw only the allowed request');
  });

  it('decides each request of a keep-alive connection on its own', async () => {
    const replies = await requests(client, server.ip, [
      { method: 'GET', path: '/public/a' },
      { method: 'GET', path: '/private/b' },
      { method: 'POST', path: '/v1/request-landing', body: 'x'.repeat(100_000) },
      { method: 'DELETE', path: '/public/a' },
      { method: 'GET', path: '/public/c' },
    ]);
    assert.deepEqual(replies.map((r) => r.status), [200, 403, 200, 403, 200], JSON.stringify(replies));
    assert.equal(new Set(replies.map((r) => r.localPort)).size, 1, 'all on one connection');
    assert.equal((JSON.parse(replies[2]!.body!) as { bytes: number }).bytes, 100_000, 'the body arrived whole');
    assert.ok(!seen.includes('GET /private/b') && !seen.includes('DELETE /public/a'));
  });

  it('streams a chunked upload and a 50 MB body through the proxy with its memory bounded', async () => {
    const pid = (await api.status()).l7Proxy?.pid;
    assert.ok(pid, 'the proxy runs');
    const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
    const url = `http://${server.ip}:${PORT}/v1/request-landing`;
    // curl reads stdin as the body; with Transfer-Encoding: chunked it sends it in chunks.
    const chunked = await client.exec(['sh', '-c', `head -c 1000000 /dev/zero | curl -sS --max-time 20 -H 'Transfer-Encoding: chunked' --data-binary @- ${url}`],
      { timeoutMs: 30_000 });
    assert.equal((JSON.parse(chunked.stdout) as { bytes: number }).bytes, 1_000_000, `a chunked upload arrives whole: ${chunked.stdout}${chunked.stderr}`);
    const before = rssMiB();
    const big = await client.exec(['sh', '-c', `head -c 52428800 /dev/zero | curl -sS --max-time 60 -H 'Content-Length: 52428800' --data-binary @- ${url}`],
      { timeoutMs: 90_000 });
    assert.equal((JSON.parse(big.stdout) as { bytes: number }).bytes, 52_428_800, `50 MB arrive whole: ${big.stderr}`);
    const growth = rssMiB() - before;
    assert.ok(growth < 40, `the proxy's RSS grew ${growth.toFixed(1)} MiB for a 50 MB body: streamed, not buffered`);
  });

  it('answers a malformed request 400 without forwarding it, and reports it as a flow', async () => {
    const raw = 'POST /v1/request-landing HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 5\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n0\\r\\n\\r\\n';
    const script = `const s = require('net').connect(${PORT}, '${server.ip}', () => s.write('${raw}'));
let out = ''; s.on('data', (d) => { out += d; }); s.on('close', () => console.log(JSON.stringify(out))); setTimeout(() => s.destroy(), 4000);`;
    const seenBefore = seen.length;
    const res = await client.exec(['node', '-e', script], { timeoutMs: 15_000 });
    const answer = JSON.parse(res.stdout.trim()) as string;
    assert.match(answer, /^HTTP\/1\.1 400 /, `the proxy answers 400: ${answer}`);
    assert.equal(seen.length, seenBefore, 'the server never saw it');
    const flow = await waitFor(async () => (await flows(node)).find((f) => f.Type === 'L7' && f.l7?.type === 'REQUEST' && f.verdict === 'DROPPED'
      && f.l7.http.url?.endsWith('/v1/request-landing') && f.l7.http.code === 400));
    assert.ok(flow, 'a DROPPED http-request flow for it');
  });

  it('makes each decision an L7 flow with method, URL and code, enriched with the pods', async () => {
    await requests(client, server.ip, [{ method: 'PUT', path: '/v1/exhaust-port' }, { method: 'POST', path: '/v1/request-landing' }]);
    const url = 'http://l7-server.default.svc.cluster.local';
    const find = (pred: (f: AnyFlow) => boolean) => waitFor(async () => (await flows(node)).find(pred));
    const deniedReq = await find((f) => f.Type === 'L7' && f.l7?.type === 'REQUEST' && f.l7.http.url === `${url}/v1/exhaust-port`);
    assert.ok(deniedReq, 'a request flow for the denied PUT');
    assert.equal(deniedReq.verdict, 'DROPPED');
    assert.equal(deniedReq.l7.http.method, 'PUT');
    assert.equal(deniedReq.event_type.type, 129);
    assert.equal(deniedReq.traffic_direction, 'INGRESS');
    assert.equal(deniedReq.source.pod_name, 'l7-client');
    assert.equal(deniedReq.destination.pod_name, 'l7-server');
    assert.equal(deniedReq.Summary, `HTTP/1.1 PUT ${url}/v1/exhaust-port`);
    assert.deepEqual(deniedReq.ingress_denied_by?.map((p: AnyFlow) => `${p.kind}/${p.namespace}/${p.name}`), ['CiliumNetworkPolicy/default/l7-server'],
      'the denied request names the policy whose HTTP rules it matched none of');
    const deniedRes = await find((f) => f.l7?.type === 'RESPONSE' && f.l7.http.url === `${url}/v1/exhaust-port`);
    assert.equal(deniedRes?.l7.http.code, 403);
    assert.equal(deniedRes?.verdict, 'FORWARDED');
    assert.equal(deniedRes?.is_reply, true);
    const landed = await find((f) => f.l7?.type === 'RESPONSE' && f.l7.http.url === `${url}/v1/request-landing` && f.l7.http.code === 200);
    assert.ok(landed, 'a 200 response flow for the landing');
    assert.equal(landed.source.pod_name, 'l7-server');
    const landedReq = await find((f) => f.l7?.type === 'REQUEST' && f.l7.http.url === `${url}/v1/request-landing` && f.verdict === 'FORWARDED');
    assert.deepEqual(landedReq?.ingress_allowed_by?.map((p: AnyFlow) => p.name), ['l7-server'], 'the allowed request names the policy whose rule let it through');
    const filtered = await get(node, '/v1/flows?number=0&type=l7');
    assert.ok(filtered.includes('exhaust-port'));
  });

  it('counts HTTP requests, responses and durations in the metrics (reporter server for ingress)', async () => {
    const read = () => get(node, '/v1/metrics/prometheus');
    const before = await read();
    await requests(client, server.ip, [{ method: 'POST', path: '/v1/request-landing' }, { method: 'PUT', path: '/v1/exhaust-port' }]);
    const moved = await waitFor(async () => {
      const text = await read();
      const ok = metricValue(text, 'hubble_http_requests_total', { method: 'POST', reporter: 'server' }) > metricValue(before, 'hubble_http_requests_total', { method: 'POST', reporter: 'server' }) &&
        metricValue(text, 'hubble_http_responses_total', { method: 'PUT', status: '403', reporter: 'server' }) > metricValue(before, 'hubble_http_responses_total', { method: 'PUT', status: '403', reporter: 'server' }) &&
        metricValue(text, 'hubble_http_request_duration_seconds_count', { method: 'POST', reporter: 'server' }) > 0;
      return ok ? text : undefined;
    });
    assert.ok(moved, `the HTTP metrics moved:\n${(await read()).split('\n').filter((l) => l.includes('hubble_http')).join('\n')}`);
  });

  it('enforces an egress L7 rule at the client', async () => {
    const replies = await requests(egressClient, server.ip, [{ method: 'GET', path: '/egress-ok' }, { method: 'GET', path: '/egress-no' }]);
    assert.deepEqual(replies.map((r) => r.status), [200, 403], JSON.stringify(replies));
    assert.equal((JSON.parse(replies[0]!.body!) as { peer: string }).peer, egressClient.ip);
    const flow = await waitFor(async () => (await flows(node)).find((f) => f.l7?.type === 'REQUEST' && f.l7.http.url.endsWith('/egress-no')));
    assert.equal(flow?.traffic_direction, 'EGRESS');
    assert.equal(flow?.verdict, 'DROPPED');
    assert.equal(flow?.source.pod_name, 'l7-egress-client');
    assert.deepEqual(flow?.egress_denied_by?.map((p: { name: string }) => p.name), ['l7-egress-client']);
  });

  it('applies the server\'s ingress HTTP rules as well to a request the client\'s egress rules let through', async () => {
    const replies = await requests(egressClient, server.ip, [{ method: 'GET', path: '/to-server-ok' }, { method: 'GET', path: '/to-server-no' }]);
    assert.deepEqual(replies.map((r) => r.status), [200, 403], JSON.stringify(replies));
    assert.ok(!seen.includes('GET /to-server-no'), 'the request the server\'s rules deny never reached it');
    const flow = await waitFor(async () => (await flows(node)).find((f) => f.l7?.type === 'REQUEST' && f.l7.http.url.endsWith('/to-server-no')));
    assert.equal(flow?.verdict, 'DROPPED');
    assert.deepEqual(flow?.ingress_denied_by?.map((p: { name: string }) => p.name), ['l7-server'], 'the server\'s policy is named as the one that denied it');
    assert.equal(flow?.egress_denied_by, undefined);
  });

  it('fails closed while the proxy is down and serves again once the agent restarted it', async () => {
    const first = (await api.status()).l7Proxy!;
    assert.ok(first.running && first.pid, JSON.stringify(first));
    const status = (await api.status());
    assert.ok(status.l7Proxy!.pid);
    // Traffic throughout: a new connection every 25 ms, allowed and denied requests in turn.
    const loop = client.spawn(['node', '-e', `const http = require('http');
const until = Date.now() + 6000; let i = 0; const out = [];
const one = () => new Promise((resolve) => {
  const path = (i++ % 2) ? '/v1/exhaust-port' : '/v1/request-landing';
  const method = path === '/v1/exhaust-port' ? 'PUT' : 'POST';
  const t = Date.now();
  const req = http.request({ host: '${server.ip}', port: ${PORT}, method, path, timeout: 3000, agent: false }, (res) => {
    res.resume(); res.on('end', () => resolve({ t, path, status: res.statusCode }));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => resolve({ t, path, error: e.code || e.message }));
  req.end();
});
(async () => { console.log('started'); const all = []; while (Date.now() < until) { all.push(one()); await new Promise((r) => setTimeout(r, 25)); } console.log(JSON.stringify(await Promise.all(all))); })();`]);
    let output = '';
    loop.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
    assert.ok(await waitForLine(loop, /started/, 10_000));
    await new Promise((r) => setTimeout(r, 1_500));
    const killedAt = Date.now();
    process.kill(first.pid!, 'SIGKILL');
    const back = await waitFor(async () => {
      const s = (await api.status()).l7Proxy!;
      return s.running && s.pid !== first.pid && s.listening.length === 2 ? s : undefined;
    }, 10_000);
    assert.ok(back, 'the agent started the proxy again');
    assert.ok(back.restarts >= first.restarts + 1);
    await new Promise<void>((resolve) => loop.once('exit', () => resolve()));
    const results = JSON.parse(output.trim().split('\n').pop()!) as { t: number; path: string; status?: number; error?: string }[];
    const landedBefore = results.filter((r) => r.t < killedAt - 200 && r.status === 200);
    const landedAfter = results.filter((r) => r.t > killedAt + 2_000 && r.status === 200);
    assert.ok(landedBefore.length > 0, 'landings before the kill');
    assert.ok(landedAfter.length > 0, `landings after the restart: ${JSON.stringify(results.slice(-6))}`);
    for (const r of results.filter((x) => x.path === '/v1/exhaust-port')) {
      assert.ok(r.status === 403 || r.error !== undefined, `the exhaust port is never reached, proxy or not: ${JSON.stringify(r)}`);
    }
    assert.ok(!seen.includes('PUT /v1/exhaust-port'), 'the server never saw the denied request');
    // While no proxy listened, the datapath dropped redirected connections (reason 178) rather than let them through.
    const dropped = await waitFor(async () => (await flows(node)).find((f) => f.drop_reason === 178 && f.IP?.source === client.ip));
    assert.ok(dropped, 'connections were dropped with reason 178 while the proxy was down');
  });

  it('keeps serving an established connection when the agent dies, and the restarted agent\'s proxy takes new ones', async () => {
    const old = (await api.status()).l7Proxy!;
    assert.ok(old.running && old.pid, JSON.stringify(old));
    // One keep-alive connection, a request per line on stdin.
    const persistent = client.spawn(['node', '-e', `const http = require('http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
require('readline').createInterface({ input: process.stdin }).on('line', (line) => {
  const [method, path] = line.split(' ');
  const req = http.request({ agent, host: '${server.ip}', port: ${PORT}, method, path, timeout: 4000 }, (res) => {
    res.resume(); res.on('end', () => console.log(JSON.stringify({ status: res.statusCode, localPort: req.socket.localPort })));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => console.log(JSON.stringify({ error: e.code || e.message })));
  req.end();
});
console.log('ready');`]);
    const lines: Reply[] = [];
    let buf = '';
    persistent.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop()!;
      for (const l of parts) if (l.startsWith('{')) lines.push(JSON.parse(l) as Reply);
    });
    assert.ok(await waitForLine(persistent, /ready/, 10_000));
    const ask = async (line: string): Promise<Reply> => {
      const n = lines.length;
      persistent.stdin!.write(`${line}\n`);
      const r = await waitFor(async () => lines[n], 6_000);
      assert.ok(r, `an answer to ${line}`);
      return r;
    };
    const alive = (pid: number) => {
      try {
        return !/\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        return false;
      }
    };
    try {
      const first = await ask('POST /v1/request-landing');
      assert.equal(first.status, 200, JSON.stringify(first));
      await node.killAgent('SIGKILL');
      const during = await ask('POST /v1/request-landing');
      assert.deepEqual(during, { status: 200, localPort: first.localPort }, 'the same connection goes on without the agent');
      assert.equal((await ask('PUT /v1/exhaust-port')).status, 403, 'and the proxy still decides');
      assert.ok(alive(old.pid!), 'the old proxy serves on');
      await node.restartAgent();
      const fresh = await waitFor(async () => {
        const s = (await api.status()).l7Proxy!;
        return s.running && s.pid !== old.pid && s.listening.length === 2 ? s : undefined;
      }, 10_000);
      assert.ok(fresh, `the new agent's proxy listens: ${JSON.stringify((await api.status()).l7Proxy)}`);
      const [landed, denied] = await requests(client, server.ip, [{ method: 'POST', path: '/v1/request-landing' }, { method: 'PUT', path: '/v1/exhaust-port' }], false);
      assert.equal(landed?.status, 200, JSON.stringify(landed));
      assert.equal(denied?.status, 403, JSON.stringify(denied));
      assert.deepEqual(await ask('POST /v1/request-landing'), { status: 200, localPort: first.localPort }, 'the old connection still goes on');
      persistent.kill('SIGKILL');
      assert.ok(await waitFor(async () => (alive(old.pid!) ? undefined : true), 10_000), 'the old proxy exits once its last connection closed');
    } finally {
      persistent.kill('SIGKILL');
      if (alive(old.pid!)) process.kill(old.pid!, 'SIGKILL');
    }
  });
});
