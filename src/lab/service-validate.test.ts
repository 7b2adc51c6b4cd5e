import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MembraneError, ValidationError } from '../common/errors.js';
import { validateK8sService } from '../service/validate.js';
import { parseManifests, type ServiceObject } from './manifest.js';
import { planServices } from './service-plan.js';
import { checkServiceForAgents, manifestPath } from './service-validate.js';
import { emptyState } from './state.js';

/** The path of the error `fn` throws (it must throw a MembraneError). */
function refusedAt(fn: () => unknown): { path: string; message: string } {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof MembraneError, String(err));
    assert.equal(err.code, 'EINVAL');
    return { path: err.path ?? '', message: err.message };
  }
  assert.fail('expected a refusal');
}

const service = (name: string, spec: string) => `apiVersion: v1\nkind: Service\nmetadata: {name: '${name}'}\nspec: ${spec}\n`;

describe('Services checked with the agents\' rules', () => {
  it('maps the agents\' field paths onto the manifest\'s', () => {
    assert.equal(manifestPath('name'), 'metadata.name');
    assert.equal(manifestPath('namespace'), 'metadata.namespace');
    assert.equal(manifestPath('labels.app'), 'metadata.labels.app');
    assert.equal(manifestPath('ports[3].nodePort'), 'spec.ports[3].nodePort');
    assert.equal(manifestPath('ports'), 'spec.ports');
    assert.equal(manifestPath('clusterIP'), 'spec.clusterIP');
    assert.equal(manifestPath('selector.app'), 'spec.selector.app');
    assert.equal(manifestPath('sessionAffinityTimeoutSeconds'), 'spec.sessionAffinityConfig.clientIP.timeoutSeconds');
    assert.equal(manifestPath('algorithm'), 'metadata.annotations.service.membrane.io/lb-algorithm');
  });

  it('refuses a service name the agents refuse (DNS-1035: starts with a letter), at metadata.name, with the agents\' words', () => {
    const lab = refusedAt(() => parseManifests(service('1web', '{ports: [{port: 80}]}')));
    assert.equal(lab.path, 'metadata.name');
    const agent = refusedAt(() => validateK8sService({ namespace: 'default', name: '1web', clusterIP: '10.96.0.5', ports: [{ name: '', port: 80 }], backends: [] }));
    assert.equal(lab.message, `document 1 (Service "1web"): metadata.${agent.message}`);
  });

  it('takes exactly the names the agents take', () => {
    for (const name of ['web', 'w', 'web-1', '1web', '-web', 'web-', 'Web', 'web.1', 'a'.repeat(63), 'a'.repeat(64), 'x1-2']) {
      const agentTakes = (() => {
        try {
          validateK8sService({ namespace: 'default', name, clusterIP: '10.96.0.5', ports: [{ name: '', port: 80 }], backends: [] });
          return true;
        } catch {
          return false;
        }
      })();
      const labTakes = (() => {
        try {
          parseManifests(service(name, '{ports: [{port: 80}]}'));
          return true;
        } catch {
          return false;
        }
      })();
      assert.equal(labTakes, agentTakes, `"${name}": the lab ${labTakes ? 'takes' : 'refuses'} it, the agents ${agentTakes ? 'take' : 'refuse'} it`);
    }
  });

  it('refuses an SCTP targetPort other than the port at spec.ports[0].targetPort (SCTP ports are not translated)', () => {
    const r = refusedAt(() => parseManifests(service('assoc', '{ports: [{port: 3868, protocol: SCTP, targetPort: 3869}]}')));
    assert.equal(r.path, 'spec.ports[0].targetPort');
    assert.match(r.message, /SCTP backends must use the service port 3868/);
    assert.doesNotThrow(() => parseManifests(service('assoc', '{ports: [{port: 3868, protocol: SCTP, targetPort: 3868}]}')));
    assert.doesNotThrow(() => parseManifests(service('assoc', '{ports: [{port: 3868, protocol: SCTP, targetPort: diameter}]}')), 'a named one is checked per pod');
  });

  it('refuses, when planning, a service whose allocated form the agents refuse, naming the document and the manifest field', () => {
    const ports = Array.from({ length: 257 }, (_, i) => `{name: p${i}, port: ${i + 1}}`).join(', ');
    const objects = parseManifests(service('wide', `{ports: [${ports}]}`));
    const r = refusedAt(() => planServices(objects, emptyState('t'), () => 0));
    assert.equal(r.path, 'spec.ports');
    assert.match(r.message, /^document 1 \(Service "wide"\): spec\.ports: has 257 entries; at most 256$/);
  });

  it('passes a valid service and leaves a headless one (never sent to the agents) alone', () => {
    const [svc] = parseManifests(service('web', '{ports: [{port: 80}]}')) as ServiceObject[];
    assert.doesNotThrow(() => checkServiceForAgents({ ...svc!, spec: { ...svc!.spec, clusterIP: '10.96.0.5' } }));
    assert.doesNotThrow(() => checkServiceForAgents({ ...svc!, spec: { ...svc!.spec, clusterIP: 'None', ports: [] } }));
    const err = (() => {
      try {
        checkServiceForAgents({ ...svc!, spec: { ...svc!.spec, clusterIP: '127.0.0.1' } });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(err instanceof ValidationError && err.path === 'spec.clusterIP', String(err));
  });

  it('refuses an EndpointSlice address the agents would refuse as a backend (loopback, multicast, not canonical)', () => {
    for (const addr of ['127.0.0.1', '224.0.0.1', '0.0.0.0']) {
      const r = refusedAt(() => parseManifests(`apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-1\n  labels: {kubernetes.io/service-name: web}\naddressType: IPv4\nports: [{name: http, port: 80}]\nendpoints:\n- addresses: ["${addr}"]\n`));
      assert.equal(r.path, 'endpoints[0].addresses[0]', `${addr}: ${r.message}`);
    }
  });
});
