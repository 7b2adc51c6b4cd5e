import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IdentityAllocator } from '../identity/allocator.js';
import { PolicyEngine } from './policy-engine.js';
import { podIdentityLabels } from './labels.js';
import { tracePolicy, type TraceContext, type TraceEndpoint } from './trace.js';
import type { ContainerPortModel } from '../api/types.js';

const POLICY = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: client-to-server-http}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egress:
  - toEndpoints: [{matchLabels: {app: server}}]
    toPorts: [{ports: [{port: http}]}]
`;

/** A client without container ports and a server whose port 8080 is named `http`. */
function fixture() {
  const identities = new IdentityAllocator();
  const policy = new PolicyEngine('default', undefined, () => {});
  policy.import(POLICY, 'default');
  const labels = (app: string) => podIdentityLabels({
    namespace: 'default', podLabels: { app }, namespaceLabels: undefined, serviceAccount: undefined, clusterName: 'default',
  });
  const endpoint = (id: number, app: string, ipv4: string, containerPorts: ContainerPortModel[]): TraceEndpoint =>
    ({ id, ipv4, podNamespace: 'default', podName: app, identity: identities.acquire(labels(app)).identity.id, containerPorts });
  const ctx: TraceContext = {
    endpoints: [endpoint(1, 'client', '10.244.0.10', []), endpoint(2, 'server', '10.244.0.11', [{ name: 'http', containerPort: 8080, protocol: 'TCP' }])],
    policy, clusterName: 'default',
    get identities() { return identities.list(); },
    identityOfLabels: (l) => identities.lookupByLabels(l),
    ipcacheIdentity: () => 2,
    namespaceLabels: (ns) => ({ 'kubernetes.io/metadata.name': ns }),
  };
  return (port: number) => tracePolicy({ from: { pod: { namespace: 'default', name: 'client' } }, to: { pod: { namespace: 'default', name: 'server' } }, port, protocol: 'TCP' }, ctx);
}

describe('tracePolicy with an egress named port', () => {
  it('resolves the name against the destination pod\'s container ports, as regeneration does', () => {
    const trace = fixture();
    const allowed = trace(8080);
    assert.equal(allowed.verdict, 'allowed');
    assert.equal(allowed.egress?.matchType, 'L3-L4');
    assert.equal(allowed.egress?.rule?.path, 'spec.egress[0]');
    const other = trace(8081);
    assert.equal(other.verdict, 'denied');
    assert.equal(other.egress?.dropReason, 133);
  });
});
