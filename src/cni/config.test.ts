import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_AGENT_SOCKET, interfaceNameProblem, parseCommand, parseEnv, parseNetConf, peekVersion, versionToAnswer } from './config.js';
import { CniError } from './errors.js';

/** Asserts that `fn` throws a CniError with `code` whose message matches `msg`. */
function throwsCni(fn: () => unknown, code: number, msg?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CniError, `expected a CniError, got ${String(err)}`);
    assert.equal(err.code, code, `code of "${err.message}"`);
    if (msg) assert.match(err.message, msg);
    return true;
  });
}

const conf = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ cniVersion: '1.1.0', name: 'membrane', type: 'membrane-cni', ...extra });

describe('parseCommand', () => {
  it('accepts the six CNI verbs', () => {
    for (const c of ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC']) assert.equal(parseCommand({ CNI_COMMAND: c }), c);
  });
  it('is error 4 when CNI_COMMAND is missing or unknown', () => {
    throwsCni(() => parseCommand({}), 4, /CNI_COMMAND is not set/);
    throwsCni(() => parseCommand({ CNI_COMMAND: 'add' }), 4, /"add" is not a CNI command/);
  });
});

describe('parseEnv', () => {
  const full = { CNI_CONTAINERID: 'abc123', CNI_NETNS: '/run/netns/p1', CNI_IFNAME: 'eth0' };

  it('reads the attachment of ADD', () => {
    const env = parseEnv('ADD', { ...full, CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web' });
    assert.deepEqual(env, {
      command: 'ADD', containerId: 'abc123', ifName: 'eth0', netns: '/run/netns/p1',
      podArgs: { podNamespace: 'default', podName: 'web', labels: {} },
    });
  });

  for (const missing of ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME']) {
    it(`is error 4 naming ${missing} when ADD lacks it`, () => {
      const env: Record<string, string> = { ...full };
      delete env[missing];
      throwsCni(() => parseEnv('ADD', env), 4, new RegExp(`^${missing} is required for ADD`));
    });
  }

  it('lets DEL go without CNI_NETNS (the netns may be gone), but not without the container id', () => {
    assert.equal(parseEnv('DEL', { CNI_CONTAINERID: 'abc', CNI_IFNAME: 'eth0' }).netns, '');
    throwsCni(() => parseEnv('DEL', { CNI_IFNAME: 'eth0' }), 4, /CNI_CONTAINERID/);
  });

  it('needs nothing for STATUS and GC', () => {
    assert.equal(parseEnv('STATUS', {}).containerId, '');
    assert.equal(parseEnv('GC', {}).ifName, '');
  });

  it('rejects a container id outside the spec alphabet', () => {
    throwsCni(() => parseEnv('ADD', { ...full, CNI_CONTAINERID: '-abc' }), 4, /CNI_CONTAINERID "-abc" is invalid/);
    throwsCni(() => parseEnv('ADD', { ...full, CNI_CONTAINERID: 'a/b' }), 4);
    assert.equal(parseEnv('ADD', { ...full, CNI_CONTAINERID: 'a_b.c-d9' }).containerId, 'a_b.c-d9');
  });

  it('rejects an interface name the kernel would not take', () => {
    throwsCni(() => parseEnv('ADD', { ...full, CNI_IFNAME: 'eth0123456789012' }), 4, /at most 15/);
    throwsCni(() => parseEnv('ADD', { ...full, CNI_IFNAME: 'a:b' }), 4);
  });

  it('rejects a relative netns path or one with whitespace', () => {
    throwsCni(() => parseEnv('ADD', { ...full, CNI_NETNS: 'netns/p1' }), 4, /absolute path/);
    throwsCni(() => parseEnv('ADD', { ...full, CNI_NETNS: '/run/netns/a b' }), 4);
  });
});

describe('interfaceNameProblem', () => {
  it('follows the spec: 1-15 chars, not . or .., no / : or whitespace', () => {
    assert.equal(interfaceNameProblem('eth0'), undefined);
    assert.equal(interfaceNameProblem('a23456789012345'), undefined);
    for (const bad of ['', '.', '..', 'a/b', 'a:b', 'a b', 'a\tb', 'a234567890123456']) assert.ok(interfaceNameProblem(bad), bad);
  });
});

describe('parseNetConf', () => {
  it('reads a minimal configuration with defaults', () => {
    assert.deepEqual(parseNetConf(conf(), 'ADD'), {
      cniVersion: '1.1.0', name: 'membrane', type: 'membrane-cni', agentSocket: DEFAULT_AGENT_SOCKET, labels: {},
    });
  });

  it('reads every field membrane knows and ignores the ones runtimes add', () => {
    const c = parseNetConf(conf({
      cniVersion: '1.0.0', agentSocket: '/run/m.sock', mtu: 1400, logFile: '/var/log/m.log',
      args: { labels: { app: 'web' }, cni: { labels: [{ key: 'tier', value: 'front' }] } },
      capabilities: { portMappings: true }, runtimeConfig: { portMappings: [] }, prevResult: { ips: [] },
    }), 'DEL');
    assert.equal(c.cniVersion, '1.0.0');
    assert.equal(c.agentSocket, '/run/m.sock');
    assert.equal(c.mtu, 1400);
    assert.equal(c.logFile, '/var/log/m.log');
    assert.deepEqual(c.labels, { app: 'web', tier: 'front' });
    assert.deepEqual(c.prevResult, { ips: [] });
  });

  it('is error 6 when stdin is not a JSON object', () => {
    throwsCni(() => parseNetConf('{"cniVersion": ', 'ADD'), 6, /not valid JSON/);
    throwsCni(() => parseNetConf('[1]', 'ADD'), 6, /JSON object/);
  });

  it('is error 1 for a version membrane does not speak', () => {
    throwsCni(() => parseNetConf(conf({ cniVersion: '0.4.0' }), 'ADD'), 1, /"0\.4\.0" is not supported/);
  });

  it('is error 1 for STATUS and GC asked of a 1.0.0 configuration', () => {
    throwsCni(() => parseNetConf(conf({ cniVersion: '1.0.0' }), 'STATUS'), 1, /STATUS needs cniVersion 1\.1\.0/);
    throwsCni(() => parseNetConf(conf({ cniVersion: '1.0.0', 'cni.dev/valid-attachments': [] }), 'GC'), 1);
  });

  it('is error 7 naming a missing or mistyped field', () => {
    throwsCni(() => parseNetConf(JSON.stringify({ cniVersion: '1.1.0', type: 'membrane-cni' }), 'ADD'), 7, /^name is required/);
    throwsCni(() => parseNetConf(JSON.stringify({ name: 'm', type: 'membrane-cni' }), 'ADD'), 7, /^cniVersion is required/);
    throwsCni(() => parseNetConf(conf({ name: '-bad' }), 'ADD'), 7, /name "-bad" is invalid/);
    throwsCni(() => parseNetConf(conf({ agentSocket: 7 }), 'ADD'), 7, /^agentSocket must be a string/);
    throwsCni(() => parseNetConf(conf({ mtu: '1400' }), 'ADD'), 7, /^mtu must be an integer/);
    throwsCni(() => parseNetConf(conf({ mtu: 100 }), 'ADD'), 7, /^mtu /);
    throwsCni(() => parseNetConf(conf({ logFile: 'rel.log' }), 'ADD'), 7, /^logFile must be an absolute path/);
    throwsCni(() => parseNetConf(conf({ args: { labels: { app: 1 } } }), 'ADD'), 7, /^args\.labels\.app must be a string/);
    throwsCni(() => parseNetConf(conf({ args: { cni: { labels: [{ key: 'a' }] } } }), 'ADD'), 7, /^args\.cni\.labels\[0\]/);
  });

  it('reads the valid attachments of GC, and refuses a GC without them', () => {
    const c = parseNetConf(conf({ 'cni.dev/valid-attachments': [{ containerID: 'c1', ifname: 'eth0' }] }), 'GC');
    assert.deepEqual(c.validAttachments, [{ containerId: 'c1', ifName: 'eth0' }]);
    const legacy = parseNetConf(conf({ 'cni.dev/attachments': [{ containerID: 'c2', ifname: 'eth1' }] }), 'GC');
    assert.deepEqual(legacy.validAttachments, [{ containerId: 'c2', ifName: 'eth1' }]);
    throwsCni(() => parseNetConf(conf(), 'GC'), 7, /cni\.dev\/valid-attachments/);
    throwsCni(() => parseNetConf(conf({ 'cni.dev/valid-attachments': [{ containerID: 'c1' }] }), 'GC'), 7, /\[0\]/);
  });
});

describe('VERSION helpers', () => {
  it('answers the requested version when supported, else the latest', () => {
    assert.equal(versionToAnswer('{"cniVersion":"1.0.0"}'), '1.0.0');
    assert.equal(versionToAnswer('{"cniVersion":"0.3.1"}'), '1.1.0');
    assert.equal(versionToAnswer(''), '1.1.0');
  });
  it('peeks the version for the error JSON only when it is a supported one', () => {
    assert.equal(peekVersion('{"cniVersion":"1.0.0"}'), '1.0.0');
    assert.equal(peekVersion('{"cniVersion":"9"}'), undefined);
    assert.equal(peekVersion('nope'), undefined);
  });
});
