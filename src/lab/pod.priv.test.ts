import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MembraneError } from '../common/errors.js';
import { requireRoot, uniqueName } from '../testing/names.js';
import { labPaths } from './names.js';
import { addNetns, deleteNetns, listNetns } from './netns.js';
import { createPod, type PodDesired } from './pod.js';
import type { NodeRecord } from './state.js';
import { defaultToolchain, type LabToolchain } from './toolchain.js';

/**
 * createPod's rollback, against a stand-in agent (a unix-socket HTTP server
 * that records the requests) and stand-in CNI plugins that fail: whatever
 * step fails, the pod leaves nothing behind, at the agent included.
 */

/** CNI plugins as shell scripts that log each CNI_COMMAND, then answer as their name says. */
const PLUGINS: Record<string, string> = {
  // ADD fails with a CNI error, as the real plugin does when the agent refuses the endpoint.
  'refusing-cni': `[ "$CNI_COMMAND" = ADD ] && { echo '{"cniVersion":"1.0.0","code":7,"msg":"no room in the hangar"}'; exit 1; }; exit 0`,
  // ADD succeeds but its result has no address.
  'addressless-cni': `[ "$CNI_COMMAND" = ADD ] && echo '{"cniVersion":"1.0.0","interfaces":[],"ips":[]}'; exit 0`,
};

interface FakeAgent {
  requests: string[];
  /** HTTP status the agent answers DELETE /v1/k8s/pods/... with. */
  deleteStatus: number;
  server: http.Server;
}

function startFakeAgent(socket: string): Promise<FakeAgent> {
  const agent: FakeAgent = { requests: [], deleteStatus: 204, server: http.createServer() };
  agent.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    req.resume();
    req.on('end', () => {
      agent.requests.push(`${req.method} ${req.url}`);
      if (req.method === 'DELETE' && agent.deleteStatus >= 300) {
        res.writeHead(agent.deleteStatus, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'EKERNEL', message: 'the pod store is jammed' } }));
        return;
      }
      res.writeHead(204).end();
    });
  });
  return new Promise((resolve) => agent.server.listen(socket, () => resolve(agent)));
}

describe('createPod rollback (privileged: netns, stand-in agent and CNI plugins)', () => {
  const lab = uniqueName('t');
  const nodeNetns = uniqueName('mbrtn');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'membrane-pod-test-'));
  const cniLog = path.join(dir, 'cni.log');
  let agent: FakeAgent;
  let node: NodeRecord;

  const toolchain = (plugin: string): LabToolchain => ({ ...defaultToolchain(), cniBinDir: dir, cniPlugin: plugin });
  const desired: PodDesired = {
    namespace: 'default', name: 'xwing', labels: { class: 'xwing', org: 'alliance' }, serviceAccount: 'default',
    container: { name: 'spaceship', image: 'pause', env: [], ports: [] },
  };
  const cniCommands = (): string[] => (fs.existsSync(cniLog) ? fs.readFileSync(cniLog, 'utf8').trim().split('\n') : []);
  const labNetns = (): string[] => listNetns().filter((n) => n.startsWith(`mbr-${lab}-`));

  before(async () => {
    requireRoot();
    for (const [name, body] of Object.entries(PLUGINS)) {
      fs.writeFileSync(path.join(dir, name), `#!/bin/sh\necho "$CNI_COMMAND" >> ${cniLog}\n${body}\n`, { mode: 0o755 });
    }
    await addNetns(nodeNetns);
    const socket = path.join(dir, 'agent.sock');
    agent = await startFakeAgent(socket);
    node = { name: `${lab}-node1`, index: 1, netns: nodeNetns, podCIDR: '10.244.1.0/24', socket, agent: { pid: 0, startTime: '' } };
  });

  after(async () => {
    if (agent) await new Promise((r) => agent.server.close(r));
    for (const ns of labNetns()) await deleteNetns(ns);
    await deleteNetns(nodeNetns);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(labPaths(lab).dir, { recursive: true, force: true });
  });

  const reset = () => {
    agent.requests = [];
    agent.deleteStatus = 204;
    fs.rmSync(cniLog, { force: true });
  };

  it('takes the pod back from the agent, runs CNI DEL and removes the netns when CNI ADD fails', async () => {
    reset();
    await assert.rejects(createPod(lab, node, desired, toolchain('refusing-cni')), /CNI ADD for pod default\/xwing failed: no room in the hangar \[CNI error 7\]/);
    assert.deepEqual(agent.requests, ['PUT /v1/k8s/pods/default/xwing', 'DELETE /v1/k8s/pods/default/xwing']);
    assert.deepEqual(cniCommands(), ['ADD', 'DEL']);
    assert.deepEqual(labNetns(), []);
  });

  it('undoes a CNI ADD that succeeded when its result has no address', async () => {
    reset();
    await assert.rejects(createPod(lab, node, desired, toolchain('addressless-cni')), /returned no IP address/);
    assert.deepEqual(agent.requests, ['PUT /v1/k8s/pods/default/xwing', 'DELETE /v1/k8s/pods/default/xwing']);
    assert.deepEqual(cniCommands(), ['ADD', 'DEL']);
    assert.deepEqual(labNetns(), []);
  });

  it('reports both failures when the agent also refuses to forget the pod', async () => {
    reset();
    agent.deleteStatus = 500;
    await assert.rejects(createPod(lab, node, desired, toolchain('refusing-cni')), (err: unknown) => {
      assert.ok(err instanceof MembraneError);
      assert.equal(err.code, 'EEXEC');
      assert.match(err.message, /no room in the hangar.*taking pod default\/xwing back from the agent failed too: the pod store is jammed/);
      return true;
    });
    assert.deepEqual(labNetns(), []);
  });
});
