import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CniError } from './errors.js';
import { buildAddResult, expectedFromPrevResult, type Attachment } from './result.js';

const attachment: Attachment = {
  hostIfName: 'lxc0123456789ab', hostMac: 'aa:aa:aa:aa:aa:aa', podIfName: 'eth0', podMac: 'bb:bb:bb:bb:bb:bb',
  netns: '/run/netns/p1', podIp: '10.244.1.7', gateway: '10.244.1.1', mtu: 1500,
};

describe('buildAddResult', () => {
  it('builds the 1.0.0 result: host and pod interfaces, the /32 on the pod interface, a default route', () => {
    assert.deepEqual(buildAddResult('1.0.0', attachment), {
      cniVersion: '1.0.0',
      interfaces: [
        { name: 'lxc0123456789ab', mac: 'aa:aa:aa:aa:aa:aa' },
        { name: 'eth0', mac: 'bb:bb:bb:bb:bb:bb', sandbox: '/run/netns/p1' },
      ],
      ips: [{ address: '10.244.1.7/32', gateway: '10.244.1.1', interface: 1 }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.244.1.1' }],
      dns: {},
    });
  });

  it('adds the interfaces\' mtu for 1.1.0', () => {
    const r = buildAddResult('1.1.0', attachment);
    assert.equal(r.cniVersion, '1.1.0');
    assert.deepEqual(r.interfaces.map((i) => i.mtu), [1500, 1500]);
    assert.deepEqual(r.ips, buildAddResult('1.0.0', attachment).ips);
  });
});

describe('expectedFromPrevResult', () => {
  it('reads back what ADD reported, for either version', () => {
    for (const v of ['1.0.0', '1.1.0'] as const) {
      assert.deepEqual(expectedFromPrevResult(JSON.parse(JSON.stringify(buildAddResult(v, attachment))), 'eth0'), {
        podAddresses: ['10.244.1.7/32'], hostIfName: 'lxc0123456789ab',
      });
    }
  });

  it('ignores addresses of other interfaces and IPv6 addresses', () => {
    const prev = {
      interfaces: [{ name: 'eth0', sandbox: '/n' }, { name: 'net1', sandbox: '/n' }],
      ips: [{ address: '10.0.0.1/32', interface: 0 }, { address: 'fd00::1/128', interface: 0 }, { address: '10.9.0.1/24', interface: 1 }],
    };
    assert.deepEqual(expectedFromPrevResult(prev, 'eth0'), { podAddresses: ['10.0.0.1/32'] });
  });

  it('is error 7 naming the field when prevResult is missing or malformed', () => {
    const code7 = (prev: unknown, msg: RegExp) => assert.throws(() => expectedFromPrevResult(prev, 'eth0'),
      (e: unknown) => e instanceof CniError && e.code === 7 && msg.test(e.message));
    code7(undefined, /CHECK needs prevResult/);
    code7([], /prevResult must be an object/);
    code7({ interfaces: [{ name: 'eth1', sandbox: '/n' }], ips: [] }, /prevResult\.interfaces has no interface "eth0"/);
    code7({ interfaces: [{ name: 'eth0', sandbox: '/n' }], ips: [{ address: 'x', interface: 0 }] }, /prevResult\.ips\[0\]\.address/);
    code7({ interfaces: [{ name: 'eth0', sandbox: '/n' }], ips: [] }, /prevResult\.ips has no address/);
  });
});
