/**
 * `membrane observe agent-events`: Hubble's compact text for every kind of
 * event, and the command end to end against a real API server (on a unix
 * socket of its own) over an agent event log.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Agent } from '../agent/agent.js';
import { AgentClient } from '../api/client.js';
import { ApiServer } from '../api/server.js';
import {
  type AgentEvent, AgentEventLog, type AgentEventRecord, agentStarted, endpointCreated, endpointRegenerated, ipcacheDeleted,
  ipcacheUpserted, policyChanged, serviceDeleted, serviceUpserted,
} from '../hubble/agent-events.js';
import { formatTime } from '../hubble/compact.js';
import { agentEventDetails, agentEventsQuery, formatAgentEventCompact, formatAgentEventDict } from './agent-events.js';

const T0 = Date.UTC(2024, 10, 27, 11, 52, 25, 123);
const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

describe('agent event details, as Hubble prints them', () => {
  const table: [string, AgentEvent, string][] = [
    ['agent started', agentStarted(T0), `start time: ${formatTime(new Date(T0).toISOString(), 'RFC3339Milli')}`],
    ['policy updated', policyChanged('POLICY_UPDATED', ['k8s:io.cilium.k8s.policy.name=rule1', 'k8s:io.cilium.k8s.policy.namespace=default'], 5, 2),
      'labels: [k8s:io.cilium.k8s.policy.name=rule1,k8s:io.cilium.k8s.policy.namespace=default], revision: 5, count: 2'],
    ['endpoint regenerated', endpointRegenerated({ id: 7 }, ['k8s:a=b', 'k8s:c=d']), 'id: 7, labels: [k8s:a=b,k8s:c=d]'],
    ['endpoint regeneration failed', endpointRegenerated({ id: 7 }, [], new Error('map full')), 'id: 7, labels: [], error: map full'],
    ['endpoint created', endpointCreated({ id: 123, podNamespace: 'default', podName: 'xwing' }), 'id: 123, namespace: default, pod name: xwing'],
    ['endpoint created without a pod', endpointCreated({ id: 4 }), 'id: 4'],
    ['ipcache upserted', ipcacheUpserted('10.244.1.7/32', 300, { oldIdentity: 299 }), 'cidr: 10.244.1.7/32, identity: 300, old identity: 299, encrypt key: 0'],
    ['ipcache deleted', ipcacheDeleted('192.0.2.0/24', 16777217), 'cidr: 192.0.2.0/24, identity: 16777217, encrypt key: 0'],
    ['service upserted', serviceUpserted({
      id: 3, frontend_address: { ip: '10.96.0.12', port: 80 }, backend_addresses: [{ ip: '10.244.1.5', port: 8080 }, { ip: '10.244.1.6', port: 8080 }],
      type: 'ClusterIP', traffic_policy: 'Cluster', name: 'deathstar', namespace: 'default',
    }), 'id: 3, frontend: 10.96.0.12:80, backends: [10.244.1.5:8080,10.244.1.6:8080], type: ClusterIP, traffic policy: Cluster, namespace: default, name: deathstar'],
    ['service deleted', serviceDeleted(3), 'id: 3'],
    ['a type without its notification', { type: 'ENDPOINT_CREATED' }, 'UNKNOWN'],
  ];
  for (const [name, event, want] of table) it(name, () => assert.equal(agentEventDetails(event, 'RFC3339Milli'), want));
});

describe('agent event lines', () => {
  const r: AgentEventRecord = { agent_event: endpointCreated({ id: 123, podNamespace: 'default', podName: 'xwing' }), node_name: 'node-1', time: new Date(T0).toISOString() };

  it('compact: time, type and details; the node in brackets with --print-node-name', () => {
    assert.match(formatAgentEventCompact(r, { timeFormat: 'StampMilli', printNodeName: false }), /^Nov 2[67] \d\d:52:25\.123: ENDPOINT_CREATED \(id: 123, namespace: default, pod name: xwing\)$/);
    assert.match(formatAgentEventCompact(r, { timeFormat: 'StampMilli', printNodeName: true }), /^Nov 2[67] \d\d:52:25\.123 \[node-1\]: ENDPOINT_CREATED \(/);
  });

  it('dict: one field a line', () => {
    assert.match(formatAgentEventDict(r, { timeFormat: 'StampMilli', printNodeName: true }),
      /^ {2}TIMESTAMP: .+\n {7}NODE: node-1\n {7}TYPE: ENDPOINT_CREATED\n {4}DETAILS: id: 123, namespace: default, pod name: xwing$/);
  });

  it('the selection flags become the query /v1/agent-events takes', () => {
    assert.equal(String(agentEventsQuery({})), 'number=20');
    assert.equal(String(agentEventsQuery({ all: true })), 'number=0');
    assert.equal(String(agentEventsQuery({ first: '3' })), 'number=3&first=true');
    assert.equal(String(agentEventsQuery({ last: '5', follow: true })), 'number=5&follow=true');
    // A time range returns all of it (as `observe` for flows).
    assert.match(String(agentEventsQuery({ since: '2024-11-27T11:00:00Z' })), /^number=0&since=2024-11-27T11%3A00%3A00\.000Z$/);
    assert.throws(() => agentEventsQuery({ first: '3', follow: true }), /--first: cannot be combined with --follow/);
    assert.throws(() => agentEventsQuery({ last: 'x' }), /--last: "x" is not a number/);
  });
});

describe('membrane observe agent-events against the REST API', () => {
  let dir: string;
  let socket: string;
  let server: ApiServer;
  let clock = T0;
  const log = new AgentEventLog('node-1', 4095, () => (clock += 1000));

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'membrane-ae-'));
    socket = path.join(dir, 'agent.sock');
    // The events route reads nothing of the agent but its log.
    server = new ApiServer({ agentEvents: log } as unknown as Agent, socket, () => undefined);
    await server.listen();
    log.push(agentStarted(T0), endpointCreated({ id: 1, podNamespace: 'default', podName: 'a' }), endpointCreated({ id: 2, podNamespace: 'default', podName: 'b' }));
  });

  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const cli = (args: string[]) => new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [MAIN, '--socket', socket, 'observe', 'agent-events', ...args], { env: { ...process.env, TZ: 'UTC' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d; });
    child.stderr.on('data', (d: Buffer) => { stderr += d; });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });

  it('prints the last N events in Hubble\'s compact format', async () => {
    const res = await cli(['--last', '2']);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, [
      'Nov 27 11:52:27.123: ENDPOINT_CREATED (id: 1, namespace: default, pod name: a)',
      'Nov 27 11:52:28.123: ENDPOINT_CREATED (id: 2, namespace: default, pod name: b)',
      '',
    ].join('\n'));
  });

  it('-o json prints the events, -o jsonpb the whole responses', async () => {
    const json = await cli(['--first', '1', '-o', 'json']);
    assert.deepEqual(JSON.parse(json.stdout), { type: 'AGENT_STARTED', agent_start: { time: new Date(T0).toISOString() } });
    const jsonpb = (await cli(['--all', '-o', 'jsonpb'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as AgentEventRecord);
    assert.deepEqual(jsonpb.map((r) => [r.node_name, r.agent_event.type]), [['node-1', 'AGENT_STARTED'], ['node-1', 'ENDPOINT_CREATED'], ['node-1', 'ENDPOINT_CREATED']]);
  });

  it('refuses a flow filter and an unknown output, exit code 2', async () => {
    const pod = await cli(['--pod', 'default/a']);
    assert.equal(pod.code, 2);
    assert.match(pod.stderr, /--pod: not a flag of observe agent-events/);
    assert.equal((await cli(['-o', 'table'])).code, 2);
  });

  it('the REST stream follows: an event pushed after the call started arrives', async () => {
    const seen: AgentEventRecord[] = [];
    const ac = new AbortController();
    let arrived!: () => void;
    const got = new Promise<void>((resolve) => { arrived = resolve; });
    const done = new AgentClient(socket).agentEvents(new URLSearchParams({ number: '0', follow: 'true' }), (obj) => {
      seen.push(obj as AgentEventRecord);
      arrived();
    }, ac.signal);
    // The follower is registered once the response has started; a tick of the event loop is not enough, so poll.
    while (seen.length === 0) {
      log.push(serviceDeleted(9));
      await Promise.race([got, new Promise((r) => setTimeout(r, 50))]);
    }
    ac.abort();
    await done;
    assert.deepEqual(seen[0]!.agent_event, { type: 'SERVICE_DELETED', service_delete: { id: 9 } });
    assert.ok(seen.every((r) => r.agent_event.type === 'SERVICE_DELETED'), 'number=0 with follow: no stored event replayed');
  });

  it('answers a bad query with 400 naming the parameter', async () => {
    await assert.rejects(new AgentClient(socket).request('GET', '/v1/agent-events?number=-1'), /number: "-1" is not a non-negative integer/);
    await assert.rejects(new AgentClient(socket).request('GET', '/v1/agent-events?first=true&follow=true'), /first: cannot be combined with follow/);
  });
});
