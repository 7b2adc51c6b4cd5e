import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { labCli, serveCommand } from '../testing/lab-cli.js';
import { requireRoot, uniqueName } from '../testing/names.js';

/**
 * Policy's `toServices` in the lab with real traffic: a selector service
 * stands for its pods (reached through the VIP or directly), a service
 * without a selector for its EndpointSlice addresses (here a world address,
 * through its CIDR identity), and the selection follows the services as
 * they change.
 */


const APP = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  containers: [{name: c, image: agnhost, command: ${serveCommand(8080)}, ports: [{name: http, containerPort: 8080}], readinessProbe: {tcpSocket: {port: 8080}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: shop, labels: {app: other}}
spec:
  containers: [{name: c, image: agnhost, command: ${serveCommand(8080)}, readinessProbe: {tcpSocket: {port: 8080}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: shop, labels: {app: client}}
spec: {containers: [{name: c, image: alpine-curl}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: partner, namespace: shop}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: partner-1, namespace: shop, labels: {kubernetes.io/service-name: partner}}
addressType: IPv4
ports: [{name: http, port: 80, protocol: TCP}]
endpoints:
- addresses: ["198.51.100.10"]
  conditions: {ready: true}
`;

const POLICY = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: client-to-services, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egress:
  - toServices:
    - k8sService: {serviceName: web}
    - k8sService: {serviceName: partner, namespace: shop}
`;

describe('toServices in the lab (privileged, real traffic)', () => {
  const lab = uniqueName('ts');
  const cli = labCli(lab);
  const { membrane, ok } = cli;
  const clusterIP = async (name: string): Promise<string> => {
    const list = JSON.parse((await ok(['lab', 'get', 'svc', '-n', 'shop', '-o', 'json'])).stdout) as { name: string; clusterIP: string }[];
    return list.find((s) => s.name === name)!.clusterIP;
  };
  const podIp = (name: string) => cli.podIp('shop', name);
  /** Which targets the client reaches, in the order given. */
  const reach = (...targets: string[]) => cli.reach('shop/client', ...targets);

  before(async () => {
    requireRoot();
    await ok(['lab', 'up']);
    await ok(['lab', 'apply', '-f', '-'], APP);
  });

  after(async () => {
    await membrane(['lab', 'down']);
  });

  it('reaches every target before any policy', async () => {
    const [web, partner, webPod, otherPod] = [await clusterIP('web'), await clusterIP('partner'), await podIp('web'), await podIp('other')];
    assert.deepEqual(await reach(`${web}:80`, `${partner}:80`, `${webPod}:8080`, `${otherPod}:8080`, '198.51.100.11:80'), [true, true, true, true, true]);
  });

  it('allows the services\' backends (through the VIP or directly) and nothing else', async () => {
    const res = await ok(['lab', 'apply', '-f', '-'], POLICY);
    assert.match(res.stdout, /client-to-services created/);
    const [web, partner, webPod, otherPod] = [await clusterIP('web'), await clusterIP('partner'), await podIp('web'), await podIp('other')];
    assert.deepEqual(await reach(`${web}:80`, `${partner}:80`, `${webPod}:8080`, `${otherPod}:8080`, '198.51.100.11:80', '198.51.100.10:443'),
      [true, true, true, false, false, true]);
    const drops = (await ok(['observe', '--pod', 'shop/client', '--verdict', 'DROPPED', '-o', 'json', '--last', '100'])).stdout;
    assert.match(drops, new RegExp(`"destination":"${otherPod.replace(/\./g, '\\.')}"`), 'the drop to the other pod is a flow');
  });

  it('follows the service as its selector changes', async () => {
    const webPod = await podIp('web');
    const otherPod = await podIp('other');
    await ok(['lab', 'apply', '-f', '-'], APP.replace('selector: {app: web}', 'selector: {app: other}').replace('targetPort: http', 'targetPort: 8080'));
    assert.deepEqual(await reach(`${webPod}:8080`, `${otherPod}:8080`, `${await clusterIP('web')}:80`), [false, true, true]);
  });

  it('selects nothing once the service is gone', async () => {
    const otherPod = await podIp('other');
    await ok(['lab', 'delete', '-f', '-'], 'apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {ports: [{port: 80}]}\n');
    assert.deepEqual(await reach(`${otherPod}:8080`, '198.51.100.10:80'), [false, true]);
  });
});
