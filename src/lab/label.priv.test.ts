import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AgentClient } from '../api/client.js';
import { MembraneError } from '../common/errors.js';
import { run, type RunResult } from '../common/exec.js';
import { requireRoot, uniqueName } from '../testing/names.js';
import type { LabOutput } from './context.js';
import { Lab } from './lab.js';
import { defaultToolchain } from './toolchain.js';

/**
 * `lab label` end to end, with the real agent: a relabelled pod gets the
 * identity of its new labels at once, a relabelled namespace gives its pods
 * the new namespace labels, and policies selecting the new labels are
 * enforced by the time the command returns (seen with real traffic).
 */

const MEMBRANE = defaultToolchain().membrane;

const APP = `apiVersion: v1
kind: Namespace
metadata: {name: galaxy, labels: {region: outer-rim}}
---
apiVersion: v1
kind: Pod
metadata: {name: server, namespace: galaxy, labels: {app: server}}
spec: {containers: [{name: server, image: none, command: [membrane, workload, serve, --tcp, '80', --name, server]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: galaxy, labels: {app: client}}
spec: {containers: [{name: client, image: pause}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: locked-from-prod, namespace: galaxy}
spec:
  podSelector: {matchLabels: {role: locked}}
  policyTypes: [Ingress]
  ingress:
  - from: [{namespaceSelector: {matchLabels: {env: prod}}}]
`;

interface PodJson {
  name: string;
  ip: string;
  identity: number | null;
  labels: Record<string, string>;
  pid: number | null;
}

describe('lab label (privileged, real agent)', () => {
  const name = uniqueName('t');
  const lines: string[] = [];
  const out: LabOutput = { info: (l) => lines.push(l), warn: (l) => lines.push(`warn: ${l}`) };
  const lab = new Lab(name, defaultToolchain(), out);

  const membrane = (args: string[], input?: string): Promise<RunResult> =>
    run(MEMBRANE, ['--lab', name, ...args], { allowFailure: true, timeoutMs: 120_000, ...(input !== undefined ? { input } : {}) });
  const pods = async (): Promise<PodJson[]> => {
    const res = await membrane(['lab', 'get', 'pods', '-n', 'galaxy', '-o', 'json']);
    assert.equal(res.code, 0, res.stderr);
    return JSON.parse(res.stdout) as PodJson[];
  };
  const pod = async (podName: string): Promise<PodJson> => (await pods()).find((p) => p.name === podName)!;
  /** "ok" or the probe's error (timeout, refused), from the client pod to the server on TCP 80. */
  const probe = async (): Promise<string> => {
    const server = await pod('server');
    const res = await membrane(['lab', 'exec', 'galaxy/client', '--', 'membrane', 'workload', 'probe', '--to', `${server.ip}:80`, '--timeout', '1s', '-o', 'json']);
    const r = JSON.parse(res.stdout.trim()) as { ok: boolean; error: string | null };
    return r.ok ? 'ok' : String(r.error);
  };
  const said = (): string[] => lines.splice(0);

  before(async () => {
    requireRoot();
    await lab.up();
    await lab.apply(APP);
    // The server's command is no built-in workload: the lab cannot tell when it listens, so wait for its first answer.
    for (let i = 0; i < 50 && (await probe()) !== 'ok'; i++) await new Promise((r) => setTimeout(r, 100));
    said();
  });

  after(async () => {
    await lab.down();
  });

  it('relabels a pod in place: new labels, new identity, same process', async () => {
    const before = await pod('client');
    const result = await lab.label('galaxy/client', ['team=blue']);
    assert.deepEqual(said(), ['pod/client labeled']);
    assert.equal(result.changed, true);
    const after = await pod('client');
    assert.deepEqual(after.labels, { app: 'client', team: 'blue' });
    assert.notEqual(after.identity, before.identity, 'the identity follows the labels');
    assert.equal(after.pid, before.pid, 'the pod was not restarted');
    const endpoint = (await new AgentClient(lab.socket()).listEndpoints()).find((e) => e.podName === 'client')!;
    assert.ok(endpoint.labels.includes('k8s:team=blue'), endpoint.labels.join(' '));
    assert.equal(endpoint.identity, after.identity);
  });

  it('needs --overwrite to change a value, and removes labels with key-', async () => {
    await assert.rejects(lab.label('galaxy/client', ['team=red']), (e: unknown) =>
      e instanceof MembraneError && e.code === 'EINVAL' && /label argument "team=red": .*--overwrite/.test(e.message));
    assert.equal((await pod('client')).labels['team'], 'blue', 'a refused change changes nothing');
    await lab.label('galaxy/client', ['team=red', 'ghost-'], { overwrite: true });
    assert.deepEqual(said(), ['warn: label "ghost" not found.', 'pod/client labeled']);
    await lab.label('client', ['team-'], { defaultNamespace: 'galaxy' });
    assert.deepEqual((await pod('client')).labels, { app: 'client' });
    await lab.label('galaxy/client', ['app=client']);
    assert.deepEqual(said(), ['pod/client labeled', 'pod/client not labeled']);
  });

  it('prints kubectl-like lines and names the bad argument on the command line', async () => {
    const ok = await membrane(['lab', 'label', 'galaxy/client', 'tier=front']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'pod/client labeled\n');
    const bad = await membrane(['lab', 'label', 'galaxy/client', 'fine=1', 'bad key=1']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /label argument "bad key=1": invalid label key "bad key"/);
    assert.equal((await pod('client')).labels['fine'], undefined, 'nothing of a bad command is applied');
    const missing = await membrane(['lab', 'label', 'galaxy/ghost', 'a=b']);
    assert.match(missing.stderr, /pod "ghost" not found in namespace galaxy/);
  });

  it('enforces a policy once a pod is labelled into its selector', async () => {
    assert.equal(await probe(), 'ok', 'no policy selects the server yet');
    await lab.label('galaxy/server', ['role=locked']);
    assert.deepEqual(said(), ['pod/server labeled']);
    assert.equal(await probe(), 'timeout', 'the server is locked: only namespaces labelled env=prod may reach it');
  });

  it('gives the pods of a relabelled namespace its new labels, and enforces namespace selectors on them', async () => {
    const result = await lab.label('ns/galaxy', ['env=prod']);
    assert.deepEqual(said(), ['namespace/galaxy labeled']);
    assert.deepEqual(result.labels, { region: 'outer-rim', env: 'prod', 'kubernetes.io/metadata.name': 'galaxy' });
    const endpoints = await new AgentClient(lab.socket()).listEndpoints();
    for (const podName of ['client', 'server']) {
      const ep = endpoints.find((e) => e.podName === podName)!;
      assert.ok(ep.labels.includes('k8s:io.cilium.k8s.namespace.labels.env=prod'), `${podName}: ${ep.labels.join(' ')}`);
      assert.ok(ep.labels.includes('k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=galaxy'), `${podName}: ${ep.labels.join(' ')}`);
    }
    assert.equal(await probe(), 'ok', 'the client now comes from a namespace labelled env=prod');
    const listed = await membrane(['lab', 'get', 'namespaces', '-o', 'json']);
    const galaxy = (JSON.parse(listed.stdout) as { name: string; labels: Record<string, string> }[]).find((n) => n.name === 'galaxy')!;
    assert.equal(galaxy.labels['env'], 'prod');
  });

  it("keeps a namespace's name label", async () => {
    await assert.rejects(lab.label('ns/galaxy', ['kubernetes.io/metadata.name-']), /cannot be changed/);
    await lab.label('ns/galaxy', ['env-']);
    assert.equal(await probe(), 'timeout', 'the namespace left the selector again');
    assert.deepEqual(lab.namespaces().find((n) => n.name === 'galaxy')!.labels, { region: 'outer-rim', 'kubernetes.io/metadata.name': 'galaxy' });
  });
});
