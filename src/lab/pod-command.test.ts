import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ContainerSpec } from './manifest.js';
import { podCommand } from './pod-command.js';

const container = (image: string, extra: Partial<ContainerSpec> = {}): ContainerSpec => ({ name: 'c', image, env: [], ports: [], ...extra });

describe('podCommand', () => {
  it('runs the deathstar workload on port 80 for the starwars image, ready once port 80 listens', () => {
    assert.deepEqual(podCommand(container('quay.io/cilium/starwars:v2.1@sha256:833d')), {
      argv: ['membrane', 'workload', 'deathstar', '--port', '80'], readinessPort: 80, builtin: 'deathstar',
    });
  });

  it('passes args to the deathstar workload in place of its default, as Kubernetes args replace CMD', () => {
    const c = podCommand(container('quay.io/cilium/starwars', { args: ['--port', '8080'] }));
    assert.deepEqual(c.argv, ['membrane', 'workload', 'deathstar', '--port', '8080']);
    assert.equal(c.readinessPort, 8080);
  });

  it('runs pause for json-mock, alpine-curl and unknown images', () => {
    for (const image of ['quay.io/cilium/json-mock:v1.3.8', 'quay.io/cilium/alpine-curl:v1.10.0', 'nginx']) {
      assert.deepEqual(podCommand(container(image)).argv, ['membrane', 'workload', 'pause']);
    }
  });

  it('runs the container command with its args when one is given', () => {
    const c = podCommand(container('quay.io/cilium/starwars', { command: ['sh', '-c'], args: ['echo hi'] }));
    assert.deepEqual(c, { argv: ['sh', '-c', 'echo hi'] });
  });
});
