/**
 * kube-proxy's nat rules as the services benchmark's baseline writes them:
 * the shape of a full and a partial sync, the measured service last, chain
 * names that move with the endpoint.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type KubeProxyService, kubeProxyFullSync, kubeProxyJumps, kubeProxyPartialSync, kubeProxyRuleCount, sepChain, svcChain } from './kube-proxy.js';

const svc = (name: string, clusterIP: string, backend = { ip: '10.244.2.2', port: 5201 }): KubeProxyService =>
  ({ namespace: 'default', name, portName: 'http', clusterIP, port: 80, backend });

const ruleLines = (text: string) => text.split('\n').filter((l) => l.startsWith('-A '));

describe('kube-proxy rules', () => {
  it('names chains like kube-proxy: a prefix and 16 base32 characters, a new KUBE-SEP chain for a new endpoint', () => {
    const a = svc('web', '10.96.0.1');
    assert.match(svcChain(a), /^KUBE-SVC-[A-Z2-7]{16}$/);
    assert.match(sepChain(a), /^KUBE-SEP-[A-Z2-7]{16}$/);
    assert.equal(svcChain(a), svcChain({ ...a, backend: { ip: '10.244.9.9', port: 5201 } }));
    assert.notEqual(sepChain(a), sepChain({ ...a, backend: { ip: '10.244.9.9', port: 5201 } }));
    assert.notEqual(svcChain(a), svcChain(svc('db', '10.96.0.2')));
  });

  it('writes one KUBE-SERVICES rule per service, in order, with the node-ports rule last', () => {
    const text = kubeProxyFullSync([svc('a', '10.96.1.1'), svc('b', '10.96.1.2'), svc('target', '10.96.0.100')]);
    const services = ruleLines(text).filter((l) => l.startsWith('-A KUBE-SERVICES '));
    assert.equal(services.length, 4);
    assert.match(services[0]!, /-d 10\.96\.1\.1\/32 --dport 80 -j KUBE-SVC-/);
    assert.match(services[2]!, /-d 10\.96\.0\.100\/32 --dport 80 -j KUBE-SVC-/);
    assert.match(services[3]!, /--dst-type LOCAL -j KUBE-NODEPORTS$/);
    assert.ok(text.startsWith('*nat\n') && text.endsWith('COMMIT\n'));
  });

  it('DNATs each service to its endpoint through its KUBE-SVC and KUBE-SEP chains', () => {
    const t = svc('target', '10.96.0.100');
    const rules = ruleLines(kubeProxyFullSync([t]));
    assert.ok(rules.includes(`-A ${svcChain(t)} -m comment --comment "default/target:http -> 10.244.2.2:5201" -j ${sepChain(t)}`));
    assert.ok(rules.includes(`-A ${sepChain(t)} -m comment --comment default/target:http -m tcp -p tcp -j DNAT --to-destination 10.244.2.2:5201`));
    assert.equal(rules.length, kubeProxyRuleCount(1) - 3, 'all but the three jumps kube-proxy adds once');
  });

  it('declares every chain in a full sync and only the changed service\'s in a partial one, KUBE-SERVICES whole in both', () => {
    const all = [svc('a', '10.96.1.1'), svc('target', '10.96.0.100')];
    const moved = svc('target', '10.96.0.100', { ip: '10.246.0.1', port: 5201 });
    const partial = kubeProxyPartialSync([all[0]!, moved], [moved], [sepChain(all[1]!)]);
    const declared = partial.split('\n').filter((l) => l.startsWith(':'));
    assert.deepEqual(declared.sort(), [':KUBE-SERVICES - [0:0]', `:${svcChain(moved)} - [0:0]`, `:${sepChain(moved)} - [0:0]`, `:${sepChain(all[1]!)} - [0:0]`].sort());
    assert.equal(ruleLines(partial).filter((l) => l.startsWith('-A KUBE-SERVICES ')).length, 3);
    assert.ok(!partial.includes(svcChain(all[0]!) + ' -'), 'the unchanged service\'s chains are left alone');
    assert.match(partial, new RegExp(`-X ${sepChain(all[1]!)}\nCOMMIT\n$`));
    const full = kubeProxyFullSync(all);
    for (const s of all) assert.ok(full.includes(`:${svcChain(s)} - [0:0]`) && full.includes(`:${sepChain(s)} - [0:0]`));
  });

  it('jumps into KUBE-SERVICES from PREROUTING and OUTPUT', () => {
    const rules = ruleLines(kubeProxyJumps());
    assert.deepEqual(rules.map((l) => l.split(' ')[1]), ['PREROUTING', 'OUTPUT', 'POSTROUTING']);
  });
});
