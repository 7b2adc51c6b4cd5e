import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { podExecArgv, podLaunchArgv } from './pod-argv.js';

describe('pod command lines', () => {
  it('runs the pod in its netns and, with a resolv.conf, in a private mount namespace that mounts it', () => {
    assert.deepEqual(podLaunchArgv('mbr-t-0a', '/x.exit', '/x.resolv.conf', ['sleep', '1']).slice(0, 9),
      ['nsenter', '--net=/run/netns/mbr-t-0a', '--', 'unshare', '--mount', '--propagation', 'private', '--', 'sh']);
    assert.deepEqual(podLaunchArgv('mbr-t-0a', '/x.exit', '/x.resolv.conf', ['sleep', '1']).slice(-5), ['membrane-pod', '/x.exit', '/x.resolv.conf', 'sleep', '1']);
    assert.deepEqual(podLaunchArgv('mbr-t-0a', '/x.exit', undefined, ['sleep', '1']).slice(0, 4), ['nsenter', '--net=/run/netns/mbr-t-0a', '--', 'sh']);
    assert.deepEqual(podExecArgv('mbr-t-0a', undefined, ['curl', 'x']), ['nsenter', '--net=/run/netns/mbr-t-0a', '--', 'curl', 'x']);
    assert.deepEqual(podExecArgv('mbr-t-0a', '/r', ['curl', 'x']).slice(-4), ['mount --bind "$0" /etc/resolv.conf && exec "$@"', '/r', 'curl', 'x']);
  });
});
