import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MembraneError } from '../common/errors.js';
import { isLabBpffsDir, isLabNetns, labNodeSocket, nodeName, nodeNetnsName, nodePodCidr, podNetnsName, validateLabName, worldNetnsName } from './names.js';

describe('lab names', () => {
  it('names nodes, their netns, pod netns and CIDRs after the lab', () => {
    assert.equal(nodeName('starwars', 1), 'starwars-node1');
    assert.equal(nodeNetnsName('starwars', 1), 'mbr-starwars-node1');
    assert.equal(podNetnsName('starwars', '0a1b2c3d'), 'mbr-starwars-0a1b2c3d');
    assert.equal(nodePodCidr(1), '10.244.1.0/24');
    assert.equal(worldNetnsName('starwars'), 'mbr-starwars-world');
    assert.equal(labNodeSocket('starwars', 'starwars-node1'), '/var/run/membrane/lab/starwars/starwars-node1/agent.sock');
  });

  it("claims exactly its own namespaces and pins, never another lab's", () => {
    assert.ok(isLabNetns('t', 'mbr-t-node1'));
    assert.ok(isLabNetns('t', 'mbr-t-0a1b2c3d'));
    assert.ok(isLabNetns('t', 'mbr-t-world'));
    assert.ok(!isLabNetns('t', 'mbr-t-x-world'));
    assert.ok(!isLabNetns('t', 'mbr-t-x-node1'));
    assert.ok(!isLabNetns('t', 'mbr-t-x-0a1b2c3d'));
    assert.ok(!isLabNetns('t', 'mbr-t-node1-node1'));
    assert.ok(isLabBpffsDir('t', 't-node1'));
    assert.ok(!isLabBpffsDir('t', 't-x-node1'));
  });

  it('rejects lab names that cannot name a netns or a socket path', () => {
    for (const bad of ['', 'Upper', 'a_b', '-a', 'a-', 'x'.repeat(25)]) {
      assert.throws(() => validateLabName(bad), (e: unknown) => e instanceof MembraneError && e.code === 'EINVAL');
    }
    assert.equal(validateLabName('t0a1b2c'), 't0a1b2c');
  });
});
