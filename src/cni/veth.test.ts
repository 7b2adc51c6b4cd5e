import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { hostSideLines, localUnicastMac, podSideLines, vethNames, type VethPlan } from './veth.js';

describe('vethNames', () => {
  it('names the host end lxc + the first 12 hex chars of sha256("<containerId>:<ifName>"), and the pod end CNI_IFNAME', () => {
    const digest = createHash('sha256').update('abc:eth0').digest('hex');
    const names = vethNames('abc', 'eth0');
    assert.deepEqual(names, { host: `lxc${digest.slice(0, 12)}`, pod: 'eth0' });
    assert.equal(names.host.length, 15);
  });

  it('is stable, and differs per container and per interface', () => {
    assert.deepEqual(vethNames('abc', 'eth0'), vethNames('abc', 'eth0'));
    assert.notEqual(vethNames('abc', 'eth0').host, vethNames('abd', 'eth0').host);
    assert.notEqual(vethNames('abc', 'eth0').host, vethNames('abc', 'eth1').host);
  });

  it('gives 10,000 pods of one node 10,000 distinct host names (48 bits each)', () => {
    const hosts = new Set(Array.from({ length: 10_000 }, (_, i) => vethNames(`${'c'.repeat(60)}${i}`, 'eth0').host));
    assert.equal(hosts.size, 10_000);
  });
});

describe('localUnicastMac', () => {
  it('sets the locally administered bit and clears the multicast bit, keeping the rest', () => {
    assert.equal(localUnicastMac(Uint8Array.from([0xff, 1, 2, 3, 4, 0xab])), 'fe:01:02:03:04:ab');
    assert.equal(localUnicastMac(Uint8Array.from([0x00, 0, 0, 0, 0, 0])), '02:00:00:00:00:00');
  });

  it('refuses anything but 6 bytes', () => {
    assert.throws(() => localUnicastMac(new Uint8Array(5)), RangeError);
  });
});

describe('ip batches', () => {
  const plan: VethPlan = {
    names: vethNames('abc', 'eth0'), netns: '/run/netns/p1', mtu: 1450, podIp: '10.244.1.7', gateway: '10.244.1.1', podMac: '02:00:00:00:00:07',
  };
  const { host } = plan.names;

  it('creates the pod end right in the pod netns under its final name: no temporary name on the node that concurrent ADDs could share', () => {
    const lines = hostSideLines(plan);
    assert.equal(lines[0], `link add ${host} mtu 1450 type veth peer name eth0 address 02:00:00:00:00:07 mtu 1450 netns /run/netns/p1`);
    const nodeNames = lines.flatMap((l) => [...l.matchAll(/(?:dev|link add) (\S+)/g)].map((m) => m[1]));
    assert.deepEqual([...new Set(nodeNames)], [host], 'the node netns only ever sees the host end, named from the container id');
    assert.ok(!lines.some((l) => / name eth0 *$|set \S+ netns /.test(l)), 'nothing is renamed or moved');
  });

  it('configures the host end: no IPv6 link-local before up, the pod route, then prints the host end last', () => {
    assert.deepEqual(hostSideLines(plan).slice(1), [
      `link set dev ${host} addrgenmode none`,
      `link set dev ${host} up`,
      `route replace 10.244.1.7/32 dev ${host} scope link`,
      `link show dev ${host}`,
    ]);
  });

  it('configures the pod end: no IPv6 link-local before up, /32, routes via the gateway', () => {
    const lines = podSideLines(plan);
    assert.ok(lines.indexOf('link set dev eth0 addrgenmode none') < lines.indexOf('link set dev eth0 up'));
    assert.ok(lines.includes('addr add 10.244.1.7/32 dev eth0'));
    assert.ok(lines.includes('link set dev lo up'));
    const linkRoute = lines.indexOf('route add 10.244.1.1/32 dev eth0 scope link');
    const defaultRoute = lines.indexOf('route add default via 10.244.1.1 dev eth0');
    assert.ok(linkRoute >= 0 && defaultRoute > linkRoute, 'the gateway must be reachable before the default route via it');
  });
});
