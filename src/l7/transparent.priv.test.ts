/**
 * Transparent redirection into the L7 proxy through real traffic: a test
 * node with a real agent, a client and a server pod, policy entries with a
 * proxy_port written into the node's pinned policy map (the agent does not
 * allocate proxy ports yet), and a TCP relay on transparent.ts
 * (transparent-relay.ts) in the node's network namespace.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { AgentClient } from '../api/client.js';
import { run } from '../common/exec.js';
import { DIR_INGRESS, metricsIndex, metricsValue } from '../datapath/layout.js';
import { BpfMap } from '../datapath/map.js';
import { deletePolicyEntry, openPinnedPolicyMap, writePolicyEntry } from '../datapath/policy-pin.js';
import type { PolicyMapKey } from '../datapath/policymap.js';
import { startTestNode, type TestNode } from '../testing/agent.js';
import { addTestPod, type TestPod } from '../testing/pods.js';
import { waitForLine } from '../testing/tcp.js';
import { requireRoot, uniqueName } from '../testing/names.js';

const RELAY = fileURLToPath(new URL('./transparent-relay.js', import.meta.url));
const SERVER_PORT = 8080;
const PROXY_PORT = 15001;
const TCP = 6;

/* The server greets every connection with what it sees of it, then echoes lines. */
const SERVER = `require('net').createServer((s) => {
  s.on('error', () => {});
  s.write(JSON.stringify({ peer: s.remoteAddress + ':' + s.remotePort, local: s.localAddress + ':' + s.localPort }) + '\\n');
  s.on('data', (d) => s.write('echo:' + d));
}).listen(${SERVER_PORT}, '0.0.0.0', () => console.log('listening'));`;

/* One connection: the greeting, one echoed line, and the client's view of its own socket. */
function clientScript(ip: string, timeoutMs: number): string {
  return `const s = require('net').connect(${SERVER_PORT}, '${ip}');
let buf = ''; const out = {};
const done = (r) => { console.log(JSON.stringify({ ...out, ...r })); process.exit(0); };
setTimeout(() => done({ error: 'timeout' }), ${timeoutMs});
s.on('error', (e) => done({ error: e.code || e.message }));
s.on('close', () => done({ error: 'closed' }));
s.on('connect', () => { out.local = s.localAddress + ':' + s.localPort; out.remote = s.remoteAddress + ':' + s.remotePort; });
s.on('data', (d) => {
  buf += d;
  const lines = buf.split('\\n');
  if (!out.greeting && lines.length > 1) { out.greeting = JSON.parse(lines[0]); s.write('ping\\n'); }
  if (buf.includes('echo:ping\\n')) done({ echoed: true });
});`;
}

interface ClientResult {
  local?: string;
  remote?: string;
  greeting?: { peer: string; local: string };
  echoed?: boolean;
  error?: string;
}

async function connect(exec: (cmd: string[]) => Promise<{ stdout: string }>, ip: string, timeoutMs = 5_000): Promise<ClientResult> {
  const res = await exec(['node', '-e', clientScript(ip, timeoutMs)]);
  return JSON.parse(res.stdout.trim().split('\n').pop()!) as ClientResult;
}

/** The relay, a child process in the node's netns; its JSON event lines are collected. */
class Relay {
  readonly events: Record<string, string>[] = [];
  private constructor(readonly child: ChildProcess) {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) if (l.trim()) this.events.push(JSON.parse(l) as Record<string, string>);
    });
  }

  static async start(node: TestNode, args: string[] = []): Promise<Relay> {
    const child = spawn('nsenter', [`--net=${node.nodeNetnsPath}`, process.execPath, RELAY, String(PROXY_PORT), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    const relay = new Relay(child);
    if (!(await waitForLine(child, /"listening"/, 10_000))) {
      child.kill('SIGKILL');
      throw new Error(`the relay did not start: ${stderr}`);
    }
    return relay;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
  }
}

/** The agent's recent flows (GET /v1/flows). */
function flows(node: TestNode): Promise<Record<string, any>[]> {
  return new Promise((resolve, reject) => {
    http.get({ socketPath: node.socket, path: '/v1/flows?number=0' }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve(body.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, any>)));
    }).on('error', reject);
  });
}

async function waitForFlow(node: TestNode, pred: (f: Record<string, any>) => boolean, timeoutMs = 5_000): Promise<Record<string, any> | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await flows(node)).find(pred);
    if (found || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('transparent redirection into the L7 proxy (real traffic)', () => {
  let node: TestNode;
  let client: TestPod;
  let server: TestPod;
  let policy: BpfMap;
  let metrics: BpfMap;
  let relay: Relay | undefined;
  const ids = new Map<string, { epId: number; identity: number }>();
  const written: [number, PolicyMapKey][] = [];

  before(async () => {
    requireRoot();
    node = await startTestNode();
    client = await addTestPod(node, 'l7-client', { app: 'l7-client' });
    server = await addTestPod(node, 'l7-server', { app: 'l7-server' });
    for (const ep of await new AgentClient(node.socket).listEndpoints()) ids.set(ep.ipv4, { epId: ep.id, identity: ep.identity });
    policy = openPinnedPolicyMap(node.bpffsDir);
    metrics = BpfMap.openPinned(`${node.bpffsDir}/metrics`, 'metrics', 4, metricsValue.size, 1024, true);
    const srv = server.spawn(['node', '-e', SERVER]);
    assert.ok(await waitForLine(srv, /listening/, 10_000), 'the server pod listens');
    const direct = await connect(client.exec, server.ip);
    assert.equal(direct.echoed, true, `without a redirect the client reaches the server: ${JSON.stringify(direct)}`);
  });

  after(async () => {
    await relay?.stop();
    policy?.close();
    metrics?.close();
    await client?.remove();
    await server?.remove();
    await node?.stop();
  });

  afterEach(async () => {
    for (const [epId, key] of written.splice(0)) deletePolicyEntry(policy, epId, key);
    await relay?.stop();
    relay = undefined;
  });

  function entry(pod: TestPod, key: Partial<PolicyMapKey> & { egress: boolean }, proxyPort: number, deny = false): void {
    const k: PolicyMapKey = { identity: 0, protocol: TCP, port: SERVER_PORT, prefixLen: 24, ...key };
    const epId = ids.get(pod.ip)!.epId;
    writePolicyEntry(policy, epId, k, { deny, proxyPort, cookie: 0 });
    written.push([epId, k]);
  }

  const host = (addr: string | undefined) => addr?.slice(0, addr.lastIndexOf(':'));

  /**
   * A redirected connection: the server saw the client's address (and its
   * port too when the proxy keeps it), the client the server's; data both ways.
   */
  function assertTransparent(r: ClientResult, label: string, samePort = false): void {
    assert.equal(r.echoed, true, `${label}: data flows both ways (${JSON.stringify(r)})`);
    assert.equal(r.remote, `${server.ip}:${SERVER_PORT}`, `${label}: the client is connected to the server's address`);
    assert.equal(host(r.local), client.ip);
    assert.equal(host(r.greeting!.peer), client.ip, `${label}: the server sees the client's address`);
    if (samePort) assert.equal(r.greeting!.peer, r.local, `${label}: and the client's port`);
    else assert.notEqual(r.greeting!.peer, r.local, `${label}: through the proxy's own upstream connection`);
    assert.equal(r.greeting!.local, `${server.ip}:${SERVER_PORT}`);
  }

  function relayed(label: string): void {
    const accepted = relay!.events.filter((e) => e.event === 'accepted');
    assert.ok(accepted.length > 0, `${label}: the proxy accepted the connection`);
    for (const a of accepted) {
      assert.equal(a.original, `${server.ip}:${SERVER_PORT}`, `${label}: the proxy sees the original destination`);
      assert.ok(a.client!.startsWith(`${client.ip}:`), `${label}: the proxy sees the client`);
    }
  }

  it('hands a connection on a port with an ingress L7 entry to the proxy, transparently both ways', async () => {
    relay = await Relay.start(node);
    entry(server, { egress: false }, PROXY_PORT);
    assertTransparent(await connect(client.exec, server.ip), 'first connection');
    assertTransparent(await connect(client.exec, server.ip), 'second connection');
    relayed('ingress');
    assert.equal(relay.events.filter((e) => e.event === 'upstream').length, 2);
  });

  it('hands a connection on a port with an egress L7 entry to the proxy (listening on any address), transparently both ways', async () => {
    relay = await Relay.start(node, ['--host', '0.0.0.0']);
    entry(client, { egress: true, identity: ids.get(server.ip)!.identity }, PROXY_PORT);
    assertTransparent(await connect(client.exec, server.ip), 'first connection');
    assertTransparent(await connect(client.exec, server.ip), 'second connection');
    relayed('egress');
  });

  it('works when the proxy reuses the client\'s port for its upstream', async () => {
    relay = await Relay.start(node, ['--keep-client-port']);
    entry(server, { egress: false }, PROXY_PORT);
    assertTransparent(await connect(client.exec, server.ip), 'ingress', true);
    written.splice(0).forEach(([epId, key]) => deletePolicyEntry(policy, epId, key));
    entry(client, { egress: true }, PROXY_PORT);
    assertTransparent(await connect(client.exec, server.ip), 'egress', true);
    const ups = relay.events.filter((e) => e.event === 'upstream');
    assert.equal(ups.length, 2);
  });

  it('redirects a connection from the node\'s own stack (ingress L7 in to_container)', async () => {
    relay = await Relay.start(node);
    entry(server, { egress: false }, PROXY_PORT);
    const nodeExec = (cmd: string[]) => run('nsenter', [`--net=${node.nodeNetnsPath}`, ...cmd]);
    const r = await connect(nodeExec, server.ip);
    assert.equal(r.echoed, true, `data flows both ways (${JSON.stringify(r)})`);
    assert.equal(r.remote, `${server.ip}:${SERVER_PORT}`);
    assert.equal(host(r.greeting!.peer), host(r.local), 'the server sees the node\'s address');
    assert.equal(relay.events.filter((e) => e.event === 'accepted').length, 1, 'through the proxy');
  });

  it('takes the answers of an upstream to a server beyond the node back to the proxy (egress L7)', async () => {
    // A "remote" namespace behind a veth of the node, routed like another node or the world.
    const remote = uniqueName('mr');
    const [nodeEnd, remoteEnd] = [uniqueName('vr'), uniqueName('vr')];
    const REMOTE_IP = '192.168.77.2';
    await run('ip', ['netns', 'add', remote]);
    try {
      await run('ip', ['-n', node.nodeNetns, 'link', 'add', nodeEnd, 'type', 'veth', 'peer', 'name', remoteEnd, 'netns', remote]);
      await run('ip', ['-n', node.nodeNetns, 'addr', 'add', '192.168.77.1/24', 'dev', nodeEnd]);
      await run('ip', ['-n', node.nodeNetns, 'link', 'set', nodeEnd, 'up']);
      await run('ip', ['-n', remote, 'addr', 'add', `${REMOTE_IP}/24`, 'dev', remoteEnd]);
      await run('ip', ['-n', remote, 'link', 'set', remoteEnd, 'up']);
      await run('ip', ['-n', remote, 'link', 'set', 'lo', 'up']);
      await run('ip', ['-n', remote, 'route', 'add', 'default', 'via', '192.168.77.1']);
      const srv = spawn('nsenter', [`--net=/run/netns/${remote}`, process.execPath, '-e', SERVER], { stdio: ['ignore', 'pipe', 'ignore'] });
      try {
        assert.ok(await waitForLine(srv, /listening/, 10_000), 'the remote server listens');
        relay = await Relay.start(node);
        entry(client, { egress: true }, PROXY_PORT);
        for (const label of ['first connection', 'second connection']) {
          const r = await connect(client.exec, REMOTE_IP);
          assert.equal(r.echoed, true, `${label}: data flows both ways (${JSON.stringify(r)})`);
          assert.equal(r.remote, `${REMOTE_IP}:${SERVER_PORT}`);
          assert.equal(host(r.greeting!.peer), client.ip, `${label}: the remote server sees the client's address`);
        }
        assert.equal(relay.events.filter((e) => e.event === 'upstream').length, 2, 'through the proxy');
      } finally {
        srv.kill('SIGKILL');
      }
    } finally {
      await run('ip', ['netns', 'del', remote], { allowFailure: true });
    }
  });

  it('fails closed while no proxy listens: the connection is dropped with reason 178 (Socket lookup failed)', async () => {
    entry(server, { egress: false }, PROXY_PORT);
    const drops = () => BpfMap.perCpuSlots(metrics.lookup(Buffer.from(new Uint32Array([metricsIndex(178, DIR_INGRESS)]).buffer))!, metricsValue.size)
      .reduce((n, b) => n + metricsValue.decode(b).packets, 0);
    const before = drops();
    const r = await connect(client.exec, server.ip, 2_000);
    assert.equal(r.error, 'timeout', `the client gets nowhere: ${JSON.stringify(r)}`);
    assert.ok(drops() > before, 'the datapath counted drops with reason 178');
    const flow = await waitForFlow(node, (f) => f.drop_reason === 178 && f.IP?.source === client.ip);
    assert.ok(flow, 'a drop flow with reason 178');
    assert.equal(flow.traffic_direction, 'INGRESS');
    // The proxy comes back: new connections are redirected again.
    relay = await Relay.start(node);
    assertTransparent(await connect(client.exec, server.ip), 'after the proxy is back');
  });

  it('subjects the proxy\'s upstream to the destination\'s L3/L4 policy as the client\'s identity', async () => {
    relay = await Relay.start(node);
    entry(client, { egress: true }, PROXY_PORT);
    entry(server, { egress: false, identity: ids.get(client.ip)!.identity }, 0, true);
    const r = await connect(client.exec, server.ip, 5_000);
    assert.notEqual(r.echoed, true, `the upstream must not reach the server: ${JSON.stringify(r)}`);
    assert.equal(r.greeting, undefined);
    assert.ok(relay.events.some((e) => e.event === 'upstream-error'), 'the proxy could not connect upstream');
    const flow = await waitForFlow(node, (f) => f.drop_reason === 181 && f.IP?.source === client.ip && f.IP?.destination === server.ip);
    assert.ok(flow, 'the server\'s ingress deny dropped the upstream (reason 181)');
    assert.equal(flow.traffic_direction, 'INGRESS');
  });
});
