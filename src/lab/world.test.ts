import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultToolchain } from './toolchain.js';
import { WORLD_ADDRESSES, WORLD_GATEWAYS, WORLD_NODE_DEVICE, worldLinkSetup, worldServeArgv } from './world.js';

/** Whether an IPv4 address lies in one of the RFC 5737 documentation ranges the world may use. */
function isDocumentationRange(a: string): boolean {
  return /^(198\.51\.100|203\.0\.113)\.\d+$/.test(a);
}

describe('lab world', () => {
  it('names its node device within IFNAMSIZ', () => {
    assert.ok(WORLD_NODE_DEVICE.length <= 15);
  });

  it('uses documentation addresses only, each inside a gateway /24', () => {
    for (const a of [...WORLD_ADDRESSES, ...WORLD_GATEWAYS.map((g) => g.split('/')[0]!)]) assert.ok(isDocumentationRange(a), a);
    for (const a of WORLD_ADDRESSES) {
      assert.ok(WORLD_GATEWAYS.some((g) => g.endsWith('/24') && g.split('.').slice(0, 3).join('.') === a.split('.').slice(0, 3).join('.')), a);
    }
  });

  it('addresses both ends and routes only the pod range back through the node', () => {
    const setup = worldLinkSetup('membrane_world');
    assert.deepEqual(setup.node, ['addr add 198.51.100.1/24 dev membrane_world', 'addr add 203.0.113.1/24 dev membrane_world', 'link set membrane_world up']);
    assert.ok(setup.world.includes('addr add 198.51.100.200/24 dev eth0'));
    assert.deepEqual(setup.world.filter((l) => l.startsWith('route')), ['route add 10.244.0.0/16 via 198.51.100.1 dev eth0']);
  });

  it('serves TCP 80 and 443 and UDP 53 on one address per server, answering "world"', () => {
    assert.deepEqual(worldServeArgv(defaultToolchain('/repo'), '203.0.113.10'),
      ['/repo/bin/membrane', 'workload', 'serve', '--tcp', '80,443', '--udp', '53', '--host', '203.0.113.10', '--name', 'world']);
  });
});
