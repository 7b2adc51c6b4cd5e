/**
 * The agent's Kubernetes metadata over its REST API, on a real agent: what
 * is put under /v1/k8s is listed back as it was put, and what is deleted is
 * no longer listed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AgentClient } from '../api/client.js';
import type { PodMetaModel } from '../api/types.js';
import { startTestNode, type TestNode } from '../testing/agent.js';
import { requireRoot } from '../testing/names.js';

describe('GET /v1/k8s/namespaces and /v1/k8s/pods (privileged: a real agent in a node netns)', () => {
  let node: TestNode | undefined;
  let agent: AgentClient;

  const xwing: PodMetaModel = {
    namespace: 'rebels', name: 'xwing', labels: { class: 'xwing', org: 'alliance' }, serviceAccount: 'pilot',
    containerPorts: [{ name: 'comms', containerPort: 8080, protocol: 'TCP' }],
  };
  const tiefighter: PodMetaModel = {
    namespace: 'empire', name: 'tiefighter', labels: { class: 'tiefighter', org: 'empire' }, serviceAccount: 'default', containerPorts: [],
  };

  before(async () => {
    requireRoot();
    node = await startTestNode();
    agent = new AgentClient(node.socket);
  });

  after(async () => {
    await node?.stop();
  });

  it('lists nothing on an agent that was told nothing', async () => {
    assert.deepEqual(await agent.listNamespaces(), []);
    assert.deepEqual(await agent.listPods(), []);
  });

  it('lists the namespaces and pods put, sorted, as they were put', async () => {
    await agent.putNamespace({ name: 'rebels', labels: { side: 'light' } });
    await agent.putNamespace({ name: 'empire', labels: { side: 'dark' } });
    await agent.putPod(xwing);
    await agent.putPod(tiefighter);

    assert.deepEqual(await agent.listNamespaces(), [
      { name: 'empire', labels: { side: 'dark' } },
      { name: 'rebels', labels: { side: 'light' } },
    ]);
    assert.deepEqual(await agent.listPods(), [tiefighter, xwing]);
  });

  it('shows a put again with new labels, once', async () => {
    await agent.putPod({ ...xwing, labels: { class: 'xwing', org: 'alliance', squadron: 'red' } });
    const pods = await agent.listPods();
    assert.deepEqual(pods.map((p) => `${p.namespace}/${p.name}`), ['empire/tiefighter', 'rebels/xwing']);
    assert.deepEqual(pods[1]!.labels, { class: 'xwing', org: 'alliance', squadron: 'red' });
  });

  it('no longer lists what was deleted', async () => {
    await agent.deletePod('rebels', 'xwing');
    await agent.deleteNamespace('rebels');
    assert.deepEqual(await agent.listPods(), [tiefighter]);
    assert.deepEqual(await agent.listNamespaces(), [{ name: 'empire', labels: { side: 'dark' } }]);

    await agent.deletePod('empire', 'tiefighter');
    await agent.deleteNamespace('empire');
    assert.deepEqual(await agent.listPods(), []);
    assert.deepEqual(await agent.listNamespaces(), []);
  });
});
