import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { labCli } from '../testing/lab-cli.js';
import { requireRoot, uniqueName } from '../testing/names.js';

/**
 * Egress named ports in the lab with real traffic: a client without
 * container ports may reach the server on the port the *server's* pod names
 * `http` (8080), and not on its other port (9090), under a
 * CiliumNetworkPolicy and a NetworkPolicy alike; a new server pod that gives
 * the name another number updates the client's egress.
 */

const serve = (ports: string) => `[sh, -c, 'exec membrane workload serve --tcp ${ports} --name "$HOSTNAME"']`;
const serverPod = (name: string, httpPort: number) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: np, labels: {app: server}}
spec:
  containers: [{name: c, image: agnhost, command: ${serve('8080,9090')}, ports: [{name: http, containerPort: ${httpPort}}], readinessProbe: {tcpSocket: {port: 8080}}}]
`;

const APP = `apiVersion: v1
kind: Namespace
metadata: {name: np}
---
${serverPod('server', 8080)}---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: np, labels: {app: client}}
spec: {containers: [{name: c, image: alpine-curl}]}
`;

const CNP = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: client-to-server-http, namespace: np}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egress:
  - toEndpoints: [{matchLabels: {app: server}}]
    toPorts: [{ports: [{port: http}]}]
`;

const KNP = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-to-server-http, namespace: np}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: server}}}]
    ports: [{port: http}]
`;

describe('egress named ports in the lab (privileged, real traffic)', () => {
  const lab = uniqueName('enp');
  const cli = labCli(lab);
  const { membrane, ok } = cli;
  const podIp = (name: string) => cli.podIp('np', name);
  /** Whether the client reaches each target, in the order given. */
  const reach = (...targets: string[]) => cli.reach('np/client', ...targets);

  before(async () => {
    requireRoot();
    await ok(['lab', 'up']);
    await ok(['lab', 'apply', '-f', '-'], APP);
  });

  after(async () => {
    await membrane(['lab', 'down']);
  });

  it('reaches both server ports before any policy', async () => {
    const server = await podIp('server');
    assert.deepEqual(await reach(`${server}:8080`, `${server}:9090`), [true, true]);
  });

  it('allows the port the server names http under a CiliumNetworkPolicy, and not the other one', async () => {
    await ok(['lab', 'apply', '-f', '-'], CNP);
    const server = await podIp('server');
    assert.deepEqual(await reach(`${server}:8080`, `${server}:9090`), [true, false]);
    const trace = async (port: number) => (JSON.parse((await membrane(['policy', 'trace', '--from', 'np/client', '--to', 'np/server',
      '--port', `${port}/tcp`, '-o', 'json'])).stdout) as { verdict: string }).verdict;
    assert.deepEqual([await trace(8080), await trace(9090)], ['allowed', 'denied'], 'policy trace resolves the name as regeneration does');
  });

  it('does the same under a NetworkPolicy, and follows a new server pod that names another port http', async () => {
    await ok(['lab', 'delete', '-f', '-'], CNP);
    await ok(['lab', 'apply', '-f', '-'], KNP);
    const server = await podIp('server');
    assert.deepEqual(await reach(`${server}:8080`, `${server}:9090`), [true, false]);
    await ok(['lab', 'apply', '-f', '-'], serverPod('server-2', 9090));
    const second = await podIp('server-2');
    assert.deepEqual(await reach(`${second}:9090`, `${server}:8080`), [true, true]);
  });
});
