import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseNetConf } from '../cni/config.js';
import { benchContainerId, membraneNetConf, referenceNetConf } from './control-plane-config.js';

describe('control-plane benchmark CNI configurations', () => {
  it('gives membrane\'s plugin a configuration it accepts for ADD and DEL', () => {
    const text = JSON.stringify(membraneNetConf('/tmp/x/agent.sock'));
    for (const command of ['ADD', 'DEL'] as const) {
      const conf = parseNetConf(text, command);
      assert.equal(conf.agentSocket, '/tmp/x/agent.sock');
      assert.equal(conf.type, 'membrane-cni');
      assert.equal(conf.cniVersion, '1.0.0');
    }
  });

  it('configures the reference as bridge + host-local with the bridge as gateway and no masquerade', () => {
    assert.deepEqual(referenceNetConf({ bridge: 'cpbr1a2b3c', subnet: '10.251.0.0/16', dataDir: '/tmp/hl' }), {
      cniVersion: '1.0.0',
      name: 'bench-bridge',
      type: 'bridge',
      bridge: 'cpbr1a2b3c',
      isGateway: true,
      ipMasq: false,
      ipam: { type: 'host-local', subnet: '10.251.0.0/16', dataDir: '/tmp/hl', routes: [{ dst: '0.0.0.0/0' }] },
    });
  });

  it('refuses a bridge name longer than an interface name may be, and a relative host-local dir', () => {
    assert.throws(() => referenceNetConf({ bridge: 'a'.repeat(16), subnet: '10.251.0.0/16', dataDir: '/tmp/hl' }), /1 to 15 characters/);
    assert.throws(() => referenceNetConf({ bridge: '', subnet: '10.251.0.0/16', dataDir: '/tmp/hl' }), /1 to 15 characters/);
    assert.throws(() => referenceNetConf({ bridge: 'br0', subnet: '10.251.0.0/16', dataDir: 'hl' }), /must be an absolute path/);
  });

  it('names containers with 64 characters, unique per run, plugin kind and pod', () => {
    const a = benchContainerId('cp1a2b3c', 'ms', 7);
    assert.equal(a.length, 64);
    assert.match(a, /^[A-Za-z0-9][A-Za-z0-9_.-]*$/);
    assert.notEqual(a, benchContainerId('cp1a2b3c', 'ms', 70));
    assert.notEqual(a, benchContainerId('cp1a2b3c', 'bs', 7));
    assert.notEqual(a, benchContainerId('cp9f8e7d', 'ms', 7));
    assert.notEqual(benchContainerId('cp1a2b3c', 'mc1', 10), benchContainerId('cp1a2b3c', 'mc10', 1));
    assert.notEqual(benchContainerId('cp1a2b3c', 'ms', 1), benchContainerId('cp1a2b3c', 'ms', 10));
  });
});
