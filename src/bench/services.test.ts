/**
 * The services benchmark's service sets and tables (no kernel involved).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { validateK8sService } from '../service/validate.js';
import { fillerBackendIp, fillerService, fillerVip, formatServicesTables, kubeProxyServices, type ServicesBenchRow, TARGET_VIP, targetService } from './services.js';

const rates = (x: number) => ({ rr: [x * 4, x * 4.2, x * 3.8], crr: [x, x * 1.1, x * 0.9] });

describe('services benchmark', () => {
  it('gives 10,000 fillers distinct VIPs inside 10.96.0.0/12, apart from the measured one', () => {
    const vips = new Set(Array.from({ length: 10_000 }, (_, i) => fillerVip(i + 1)));
    assert.equal(vips.size, 10_000);
    assert.ok(!vips.has(TARGET_VIP));
    for (const v of vips) {
      const [a, b] = v.split('.').map(Number);
      assert.ok(a === 10 && b! >= 96 && b! <= 111, v);
    }
    assert.equal(fillerVip(1), '10.96.1.1');
    assert.equal(fillerBackendIp(300), '10.245.1.44');
    assert.throws(() => fillerVip(0), RangeError);
  });

  it('sends services the agent accepts', () => {
    assert.doesNotThrow(() => validateK8sService(fillerService(9999)));
    assert.doesNotThrow(() => validateK8sService(targetService('10.244.21.5', 5201)));
  });

  it('puts the measured service last for kube-proxy', () => {
    const s = kubeProxyServices(3, { ip: '10.244.2.2', port: 5201 });
    assert.deepEqual(s.map((x) => x.clusterIP), [fillerVip(1), fillerVip(2), TARGET_VIP]);
    assert.deepEqual(s[2]!.backend, { ip: '10.244.2.2', port: 5201 });
    assert.equal(kubeProxyServices(1, { ip: '10.244.2.2', port: 5201 }).length, 1);
  });

  it('tabulates medians with ratios to each side\'s own reference', () => {
    const row: ServicesBenchRow = {
      services: 10_000, membraneDirect: rates(10_000), membraneVip: rates(9_000),
      iptables: { nft: rates(3_000), legacy: rates(6_000) },
      membraneChangeMs: [80, 90, 100], iptablesChangeMs: { nft: { partial: [800, 850, 900], full: [15_000, 15_100, 15_200] }, legacy: { partial: [400, 410, 420], full: [600, 610, 620] } },
      iptablesLoadMs: { nft: 15_400, legacy: 450 }, iptablesRules: 50_008, membraneAdoptMs: 1_143,
      lbMapBytes: { lb_services: 2 * 2 ** 20, lb_backends: 2 ** 20, lb_rev_nat: 2 ** 20, lb_affinity: 5 * 2 ** 20, lb_maglev: 0 }, agentRssMb: 184,
    };
    const text = formatServicesTables({ rows: [row], noNat: rates(12_000), iptablesVersion: 'iptables v1.8.9 (nf_tables)' });
    const summary = text.split('\n').find((l) => l.startsWith('| 10,000 |'))!;
    assert.match(summary, /^\| 10,000 \| 9,000 ×0\.90 \| 36,000 ×0\.90 \| 3,000 ×0\.25 \| 12,000 ×0\.25 \| 6,000 ×0\.50 \| 24,000 ×0\.50 \| 90 \(80–100\) \/ 850 \(800–900\) \/ 410 \(400–420\) \|$/);
    assert.match(text, /\| membrane, 10,000 services: ClusterIP \| 9,000 \(8\.1k–9\.9k\) \| 36,000 \(34\.2k–37\.8k\) \|/);
    assert.match(text, /\| 10,000 \| 90 \(80–100\) \| 1,143 \| 4\.0 MiB \(9\.0 MiB\) \| 184 MB \| 50,008 \| 15,400 \/ 850 \(800–900\) \/ 15,100 \(15,000–15,200\) \| 450 \/ 410 \(400–420\) \/ 610 \(600–620\) \|/);
  });
});
