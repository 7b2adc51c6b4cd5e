/**
 * POST /v1/cni's pure parts: the request's validation, and the in-process
 * agent calls answering as the wire would (errors without a `cause`, so a
 * refusal never reads as an unreachable agent).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MembraneError } from '../common/errors.js';
import { isAgentUnreachable } from '../cni/errors.js';
import { inProcessCniAgent, parseCniRequest, type CniAgentOps } from './cni-route.js';

function refusedAt(body: unknown, path: string): void {
  assert.throws(() => parseCniRequest(body), (err: unknown) =>
    err instanceof MembraneError && err.code === 'EINVAL' && err.path === path && err.message.includes(`${path}:`));
}

describe('POST /v1/cni request', () => {
  it('accepts the CNI_* variables and stdin as strings', () => {
    const req = { env: { CNI_COMMAND: 'ADD', CNI_NETNS: '/run/netns/x' }, stdin: '{"cniVersion":"1.1.0"}' };
    assert.deepEqual(parseCniRequest(req), req);
  });

  it('names the field that is wrong', () => {
    refusedAt(null, '(body)');
    refusedAt({ stdin: '' }, 'env');
    refusedAt({ env: [], stdin: '' }, 'env');
    refusedAt({ env: { CNI_IFNAME: 3 }, stdin: '' }, 'env.CNI_IFNAME');
    refusedAt({ env: { HOME: '/root' }, stdin: '' }, 'env.HOME');
    refusedAt({ env: {} }, 'stdin');
  });
});

describe('in-process CNI agent', () => {
  const failing = (err: unknown): CniAgentOps => ({ allocateIp: () => { throw err; } }) as unknown as CniAgentOps;

  it('passes on the agent\'s code, message and path, without a cause', async () => {
    const agent = inProcessCniAgent(failing(new MembraneError('EINVAL', 'labels: bad key', { path: 'labels', cause: new Error('x') })));
    await assert.rejects(agent.allocateIp('c:eth0'), (err: unknown) =>
      err instanceof MembraneError && err.code === 'EINVAL' && err.path === 'labels' && err.cause === undefined && !isAgentUnreachable(err));
  });

  it('answers a foreign error as EKERNEL, as the API server does', async () => {
    const agent = inProcessCniAgent(failing(new TypeError('boom')));
    await assert.rejects(agent.allocateIp('c:eth0'), (err: unknown) => err instanceof MembraneError && err.code === 'EKERNEL' && err.message === 'boom');
  });

  it('answers with copies, as JSON off the wire would be', async () => {
    const model = { ip: '10.0.0.2', prefixLength: 32, podCIDR: '10.0.0.0/24', gateway: '10.0.0.1', mtu: 1500 };
    const agent = inProcessCniAgent({ allocateIp: () => Promise.resolve(model) } as unknown as CniAgentOps);
    const got = await agent.allocateIp('c:eth0');
    assert.deepEqual(got, model);
    assert.notEqual(got, model);
  });
});
