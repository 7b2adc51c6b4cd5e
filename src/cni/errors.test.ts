import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MembraneError, ValidationError } from '../common/errors.js';
import { CniError, isAgentUnreachable, toCniError } from './errors.js';

const unreachable = () => new MembraneError('EAGENT', 'unable to reach the membrane agent at /s: connect ENOENT /s',
  { cause: Object.assign(new Error('connect ENOENT /s'), { code: 'ENOENT' }) });

describe('toCniError', () => {
  it('maps an unreachable agent to 11, saying the agent is not running', () => {
    const e = toCniError(unreachable(), 'allocating an IP address', '/s');
    assert.equal(e.code, 11);
    assert.match(e.message, /agent is not running.*\/s/);
    assert.match(e.details ?? '', /while allocating an IP address/);
  });

  it('passes an agent validation error on with its own message, as 7', () => {
    const e = toCniError(new ValidationError('labels', 'key "a b" must not contain whitespace'), 'creating the endpoint');
    assert.equal(e.code, 7);
    assert.equal(e.message, 'labels: key "a b" must not contain whitespace');
  });

  it('maps an agent answering with an error status (no transport cause) to 5, not 11', () => {
    const answered = new MembraneError('EAGENT', 'agent answered PUT /v1/endpoints with HTTP 500');
    assert.equal(isAgentUnreachable(answered), false);
    assert.equal(toCniError(answered, 'x').code, 5);
  });

  it('maps exhaustion to 11, command and kernel failures to 5, anything else to 999', () => {
    assert.equal(toCniError(new MembraneError('EEXHAUSTED', 'pool full'), 'x').code, 11);
    const io = toCniError(new MembraneError('EEXEC', 'ip link add failed'), 'creating the veth pair');
    assert.equal(io.code, 5);
    assert.equal(io.message, 'creating the veth pair failed');
    assert.equal(io.details, 'ip link add failed');
    assert.equal(toCniError(new TypeError('boom'), 'x').code, 999);
  });

  it('leaves a CniError as it is', () => {
    const e = new CniError(3, 'gone');
    assert.equal(toCniError(e, 'x'), e);
  });
});

describe('CniError.toJson', () => {
  it('prints the spec\'s error object, details only when present', () => {
    assert.deepEqual(new CniError(7, 'bad', 'why').toJson('1.0.0'), { cniVersion: '1.0.0', code: 7, msg: 'bad', details: 'why' });
    assert.deepEqual(new CniError(4, 'no env').toJson('1.1.0'), { cniVersion: '1.1.0', code: 4, msg: 'no env' });
  });
});
