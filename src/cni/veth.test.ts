import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createPairLines, hostSideLines, podSideLines, vethNames, type VethPlan } from './veth.js';

describe('vethNames', () => {
  it('names the host end lxc + the first 12 hex chars of sha256("<containerId>:<ifName>")', () => {
    const digest = createHash('sha256').update('abc:eth0').digest('hex');
    const names = vethNames('abc', 'eth0');
    assert.equal(names.host, `lxc${digest.slice(0, 12)}`);
    assert.equal(names.host.length, 15);
    assert.match(names.tmpPeer, /^tmp[0-9a-f]{5}$/);
    assert.equal(names.pod, 'eth0');
  });

  it('is stable, and differs per container and per interface', () => {
    assert.deepEqual(vethNames('abc', 'eth0'), vethNames('abc', 'eth0'));
    assert.notEqual(vethNames('abc', 'eth0').host, vethNames('abd', 'eth0').host);
    assert.notEqual(vethNames('abc', 'eth0').host, vethNames('abc', 'eth1').host);
  });
});

describe('ip batches', () => {
  const plan: VethPlan = { names: vethNames('abc', 'eth0'), netns: '/run/netns/p1', mtu: 1450, podIp: '10.244.1.7', gateway: '10.244.1.1' };
  const { host, tmpPeer } = plan.names;

  it('creates the pair on the node and moves the peer into the pod netns by path', () => {
    assert.deepEqual(createPairLines(plan), [
      `link add ${host} mtu 1450 type veth peer name ${tmpPeer} mtu 1450`,
      `link set ${tmpPeer} netns /run/netns/p1`,
    ]);
  });

  it('configures the pod end: rename, no IPv6 link-local before up, /32, routes via the gateway', () => {
    const lines = podSideLines(plan);
    assert.equal(lines[0], `link set ${tmpPeer} name eth0`);
    assert.ok(lines.indexOf('link set dev eth0 addrgenmode none') < lines.indexOf('link set dev eth0 up'));
    assert.ok(lines.includes('addr add 10.244.1.7/32 dev eth0'));
    assert.ok(lines.includes('link set dev lo up'));
    const linkRoute = lines.indexOf('route add 10.244.1.1/32 dev eth0 scope link');
    const defaultRoute = lines.indexOf('route add default via 10.244.1.1 dev eth0');
    assert.ok(linkRoute >= 0 && defaultRoute > linkRoute, 'the gateway must be reachable before the default route via it');
  });

  it('brings the host end up and routes the pod IP to it', () => {
    assert.deepEqual(hostSideLines(plan), [
      `link set dev ${host} addrgenmode none`,
      `link set dev ${host} up`,
      `route replace 10.244.1.7/32 dev ${host} scope link`,
    ]);
  });
});
