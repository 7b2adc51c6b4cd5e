import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalJson, deploymentPodName, podTemplateHash, SAFE_ALPHABET } from './deployment-naming.js';
import type { PodSpec } from './manifest.js';

const spec = (command?: string[]): PodSpec => ({
  serviceAccount: 'default',
  container: { name: 'deathstar', image: 'quay.io/cilium/starwars:v2.1', env: [], ports: [], ...(command ? { command } : {}) },
});

describe('deployment pod naming', () => {
  it('hashes a template into 10 characters of the safe alphabet', () => {
    const hash = podTemplateHash(spec());
    assert.equal(hash.length, 10);
    for (const c of hash) assert.ok(SAFE_ALPHABET.includes(c), `${c} is not in the safe alphabet`);
  });

  it('gives equal specs the same hash whatever their key order', () => {
    const a = spec();
    const b: PodSpec = { container: { ports: [], env: [], image: a.container.image, name: a.container.name }, serviceAccount: 'default' };
    assert.equal(podTemplateHash(a), podTemplateHash(b));
    assert.equal(canonicalJson({ b: 1, a: [2, { d: 3, c: 4 }] }), '{"a":[2,{"c":4,"d":3}],"b":1}');
  });

  it('changes the hash when the container command changes', () => {
    assert.notEqual(podTemplateHash(spec()), podTemplateHash(spec(['sleep', '1'])));
  });

  it('names pods <deployment>-<hash>-<5 random>, as Kubernetes does', () => {
    const name = deploymentPodName('deathstar', podTemplateHash(spec()), new Set());
    assert.match(name, new RegExp(`^deathstar-[${SAFE_ALPHABET}]{10}-[${SAFE_ALPHABET}]{5}$`));
  });

  it('never returns a name already taken', () => {
    let calls = 0;
    // The first five draws spell a taken name; the next ones do not.
    const rand = () => (calls++ < 5 ? 0 : 1);
    const hash = 'bbbbbbbbbb';
    const name = deploymentPodName('web', hash, new Set([`web-${hash}-bbbbb`]), rand);
    assert.equal(name, `web-${hash}-ccccc`);
  });
});
