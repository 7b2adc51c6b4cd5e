import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AgentClient } from '../api/client.js';
import type { ServiceFrontendModel } from '../api/types.js';
import { run } from '../common/exec.js';
import { labCli, serveCommand } from '../testing/lab-cli.js';
import { requireRoot, uniqueName } from '../testing/names.js';
import { BPFFS_ROOT, labPaths, nodeName } from './names.js';
import { netnsPids } from './netns.js';
import { processStartTime } from './process.js';
import type { ServiceView } from './service-view.js';
import { readLabState } from './state.js';

/**
 * Services in the lab end to end, through the `membrane lab` CLI with the
 * real agent, datapath and cluster DNS: ClusterIPs, backends that follow
 * pods, named targetPorts, EndpointSlices, DNS names from pods in two
 * namespaces, real traffic throughout; and nothing left behind.
 */


/** A workload that answers TCP connections with its pod's name, on `port`. */

const APP = (replicas: number) => `apiVersion: v1
kind: Namespace
metadata: {name: galaxy}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo, namespace: galaxy}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      containers:
      - name: echo
        image: agnhost
        command: ${serveCommand(8080)}
        ports: [{name: web, containerPort: 8080}]
        readinessProbe: {tcpSocket: {port: web}}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: galaxy}
spec:
  selector: {app: echo}
  ports: [{name: http, port: 80, targetPort: web}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: galaxy}
spec: {containers: [{name: c, image: alpine-curl}]}
`;

/** Matches the echo selector, but declares no port named web: no backend of the named targetPort. */
const STRAY = `apiVersion: v1
kind: Pod
metadata: {name: stray, namespace: galaxy, labels: {app: echo}}
spec:
  containers:
  - {name: c, image: agnhost, command: ${serveCommand(8080)}, readinessProbe: {tcpSocket: {port: 8080}}}
`;

const CLIENT_DEFAULT = `apiVersion: v1
kind: Pod
metadata: {name: client}
spec: {containers: [{name: c, image: alpine-curl}]}
`;

/** A server outside any selector, and a Service without a selector whose EndpointSlice lists it. */
const EXTERNAL = (ip: string, ready = true) => `apiVersion: v1
kind: Service
metadata: {name: legacy}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: legacy-1
  labels: {kubernetes.io/service-name: legacy}
addressType: IPv4
ports: [{name: http, port: 9090, protocol: TCP}]
endpoints:
- addresses: ["${ip}"]
  conditions: {ready: ${ready}}
`;

const BACKEND_POD = `apiVersion: v1
kind: Pod
metadata: {name: legacy-db}
spec:
  containers:
  - {name: c, image: agnhost, command: ${serveCommand(9090)}, readinessProbe: {tcpSocket: {port: 9090}}}
`;

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const ipNumber = (ip: string) => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);

interface PodJson {
  namespace: string;
  name: string;
  ip: string;
  labels: Record<string, string>;
  pid: number | null;
  netns: string;
  ready: boolean;
}

describe('lab services (privileged, real agent, datapath and cluster DNS)', () => {
  const lab = uniqueName('s');
  const node = nodeName(lab, 1);
  const seenPids = new Set<number>();
  const seenNetns = new Set<string>();
  const hostResolvConf = fs.readFileSync('/etc/resolv.conf', 'utf8');

  const { membrane, ok } = labCli(lab);
  const apply = (text: string) => ok(['lab', 'apply', '-f', '-'], text);
  const pods = async (): Promise<PodJson[]> => {
    const list = JSON.parse((await ok(['lab', 'get', 'pods', '-A', '-o', 'json'])).stdout) as PodJson[];
    for (const p of list) {
      if (p.pid !== null) seenPids.add(p.pid);
      seenNetns.add(p.netns);
    }
    return list;
  };
  const services = async (): Promise<ServiceView[]> => JSON.parse((await ok(['lab', 'get', 'svc', '-A', '-o', 'json'])).stdout) as ServiceView[];
  const service = async (ns: string, name: string): Promise<ServiceView | undefined> => (await services()).find((s) => s.namespace === ns && s.name === name);
  const frontends = async (): Promise<ServiceFrontendModel[]> => new AgentClient(readLabState(lab)!.nodes[0]!.socket).listServices();

  /** `count` new TCP connections from `pod` to `target`; the names that answered, by how often. */
  async function spread(pod: string, target: string, count: number): Promise<Map<string, number>> {
    const res = await membrane(['lab', 'exec', pod, '--', 'membrane', 'workload', 'probe', '--timeout', '3s', ...Array.from({ length: count }, () => ['--to', target]).flat()]);
    const names = new Map<string, number>();
    for (const line of res.stdout.split('\n').filter(Boolean)) {
      // "HOST:PORT ok NAME", or "HOST:PORT timeout|refused|..." for a connection that failed
      const name = / ok (\S+)$/.exec(line)?.[1] ?? 'failed';
      names.set(name, (names.get(name) ?? 0) + 1);
    }
    return names;
  }

  function assertBalanced(names: Map<string, number>, backends: string[], total: number): void {
    assert.deepEqual([...names.keys()].sort(), [...backends].sort(), `answers: ${JSON.stringify([...names])}`);
    for (const b of backends) {
      const share = (names.get(b) ?? 0) / total;
      assert.ok(share >= 0.15 && share <= 0.6, `${b} took ${(share * 100).toFixed(1)}% of ${total} connections: ${JSON.stringify([...names])}`);
    }
  }

  const echoPods = async () => (await pods()).filter((p) => p.namespace === 'galaxy' && p.name.startsWith('echo-'));

  before(async () => {
    requireRoot();
    await ok(['lab', 'up']);
  });

  after(async () => {
    await membrane(['lab', 'down']);
  });

  it('comes up with the cluster DNS: kube-dns at 10.96.0.10 (53/UDP, 53/TCP) backed by a ready coredns pod', async () => {
    const dns = await service('kube-system', 'kube-dns');
    assert.equal(dns?.clusterIP, '10.96.0.10');
    assert.equal(dns?.ports, '53/UDP,53/TCP');
    const coredns = (await pods()).find((p) => p.namespace === 'kube-system');
    assert.match(coredns?.name ?? '', /^coredns-[a-z0-9]{10}-[a-z0-9]{5}$/);
    assert.equal(coredns?.ready, true);
    assert.deepEqual(dns?.backends.map((b) => [b.ip, b.ports]), [[coredns!.ip, { dns: 53, 'dns-tcp': 53 }]]);
    const table = (await ok(['lab', 'get', 'svc', '-n', 'kube-system'])).stdout;
    assert.match(table, /^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE$/m);
    assert.match(table, /^kube-dns\s+ClusterIP\s+10\.96\.0\.10\s+<none>\s+53\/UDP,53\/TCP\s+\S+$/m);
  });

  it('balances new connections over 2, then 3 backends (each 15-60% of 200), resolving a named targetPort per pod', async () => {
    const res = await apply(APP(2));
    assert.match(res.stdout, /^service\/echo created$/m);
    const echo = await service('galaxy', 'echo');
    assert.match(echo?.clusterIP ?? '', /^10\.(9[6-9]|10\d|11[01])\.\d+\.\d+$/, 'a ClusterIP from 10.96.0.0/12');
    let backends = await echoPods();
    assert.equal(backends.length, 2);
    assert.deepEqual(echo?.backends.map((b) => b.ports), [{ http: 8080 }, { http: 8080 }]);
    assertBalanced(await spread('galaxy/client', `${echo!.clusterIP}:80`, 200), backends.map((p) => p.name), 200);

    await apply(APP(3));
    backends = await echoPods();
    assert.equal(backends.length, 3);
    assert.equal((await service('galaxy', 'echo'))?.clusterIP, echo!.clusterIP, 'the ClusterIP stays when the service is applied again');
    assertBalanced(await spread('galaxy/client', `${echo!.clusterIP}:80`, 200), backends.map((p) => p.name), 200);
  });

  it('leaves out a selected pod that has no port of the targetPort\'s name', async () => {
    await apply(STRAY);
    const stray = (await pods()).find((p) => p.name === 'stray')!;
    const echo = (await service('galaxy', 'echo'))!;
    assert.ok(!echo.backends.some((b) => b.ip === stray.ip), `stray ${stray.ip} is no backend: ${JSON.stringify(echo.backends)}`);
    const names = await spread('galaxy/client', `${echo.clusterIP}:80`, 30);
    assert.ok(!names.has('stray'), JSON.stringify([...names]));
    await ok(['lab', 'delete', '-f', '-'], STRAY);
  });

  it('follows labels and deletions: the agent\'s frontend loses a relabelled and a deleted pod', async () => {
    const [first, second] = await echoPods();
    await ok(['lab', 'label', `galaxy/${first!.name}`, 'app=retired', '--overwrite']);
    const echo = (await service('galaxy', 'echo'))!;
    const frontend = (await frontends()).find((f) => f.service.namespace === 'galaxy' && f.service.name === 'echo')!;
    assert.equal(frontend.frontend.ip, echo.clusterIP);
    assert.ok(!frontend.backends.some((b) => b.ip === first!.ip), 'the relabelled pod left');
    assert.equal(frontend.backends.length, 2);
    const names = await spread('galaxy/client', `${echo.clusterIP}:80`, 30);
    assert.ok(!names.has(first!.name), JSON.stringify([...names]));

    await ok(['lab', 'delete', '-f', '-'], `apiVersion: v1\nkind: Pod\nmetadata: {name: ${second!.name}, namespace: galaxy}\nspec: {containers: [{name: c, image: x}]}\n`);
    const after = (await frontends()).find((f) => f.service.name === 'echo')!;
    assert.ok(!after.backends.some((b) => b.ip === second!.ip), 'the deleted pod is gone from the load balancer');
    // Its Deployment replaced it (and, reconciling, gave the relabelled pod its template's labels back).
    const selected = (await pods()).filter((p) => p.namespace === 'galaxy' && p.labels['app'] === 'echo').map((p) => p.ip).sort();
    assert.equal(selected.length, 3);
    assert.deepEqual(after.backends.filter((b) => b.state === 'active').map((b) => b.ip).sort(), selected);
  });

  it('balances a service without a selector to the endpoints of its EndpointSlice', async () => {
    await apply(BACKEND_POD);
    const db = (await pods()).find((p) => p.name === 'legacy-db')!;
    const res = await apply(EXTERNAL(db.ip));
    assert.match(res.stdout, /^endpointslice\.discovery\.k8s\.io\/legacy-1 created$/m);
    const legacy = (await service('default', 'legacy'))!;
    assert.equal(legacy.selector, undefined);
    assert.deepEqual(legacy.backends.map((b) => [b.ip, b.ports]), [[db.ip, { http: 9090 }]]);
    await apply(CLIENT_DEFAULT);
    assert.deepEqual([...(await spread('default/client', `${legacy.clusterIP}:80`, 5))], [['legacy-db', 5]]);
    await apply(EXTERNAL(db.ip, false));
    assert.deepEqual((await frontends()).find((f) => f.service.name === 'legacy')?.backends, [], 'a not-ready endpoint takes no connections');
  });

  it('lists the load balancer with `membrane service list` and `service get ID`: frontend, type, backends with their state', async () => {
    const [a, b] = (await echoPods()).map((p) => p.ip).sort((x, y) => ipNumber(x) - ipNumber(y));
    await apply(`apiVersion: v1
kind: Service
metadata: {name: pair}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: pair-1
  labels: {kubernetes.io/service-name: pair}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- addresses: ["${a}"]
- addresses: ["${b}"]
  conditions: {ready: false, serving: true, terminating: true}
`);
    const pair = (await service('default', 'pair'))!;
    const frontend = (await frontends()).find((f) => f.service.name === 'pair')!;
    const rows = (lines: string) => lines.split('\n').filter(Boolean);
    const expected = (id: number) => [
      new RegExp(`^${id}\\s+${esc(pair.clusterIP)}:80/TCP\\s+ClusterIP\\s+1 => ${esc(a!)}:8080/TCP \\(active\\)$`),
      new RegExp(`^\\s+2 => ${esc(b!)}:8080/TCP \\(terminating\\)$`),
    ];

    const list = rows((await ok(['service', 'list'])).stdout);
    assert.match(list[0]!, /^ID\s+Frontend\s+Service Type\s+Backend$/);
    const at = list.findIndex((l) => l.startsWith(`${frontend.id} `));
    assert.ok(at > 0, `a row for frontend ${frontend.id}:\n${list.join('\n')}`);
    const [row, next] = expected(frontend.id);
    assert.match(list[at]!, row!);
    assert.match(list[at + 1]!, next!);

    const one = rows((await ok(['service', 'get', String(frontend.id)])).stdout);
    assert.equal(one.length, 3, one.join('\n'));
    assert.match(one[1]!, row!);
    assert.match(one[2]!, next!);
    const json = JSON.parse((await ok(['service', 'get', String(frontend.id), '-o', 'json'])).stdout) as ServiceFrontendModel;
    assert.deepEqual(json.backends.map((x) => `${x.ip}:${x.port} ${x.state}`), [`${a}:8080 active`, `${b}:8080 terminating`]);

    const missing = await membrane(['service', 'get', '99999']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /service frontend 99999 not found/);
    assert.equal(missing.stdout, '');
    await ok(['lab', 'delete', '-f', '-'], 'apiVersion: v1\nkind: Service\nmetadata: {name: pair}\nspec: {ports: [{port: 80}]}\n---\n' +
      'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: pair-1, labels: {kubernetes.io/service-name: pair}}\naddressType: IPv4\nendpoints: [{addresses: ["10.244.1.1"]}]\n');
  });

  it('refuses a Service the agents would refuse before applying anything, naming the field, and later commands work', async () => {
    const before = JSON.stringify(readLabState(lab)!.services.map((s) => s.name));
    const cases: [string, RegExp][] = [
      ['metadata: {name: 1web}\nspec: {ports: [{port: 80}]}', /document 2 \(Service "1web"\): metadata\.name: "1web" is not a valid service name \(a DNS-1035 label/],
      ['metadata: {name: assoc}\nspec: {ports: [{port: 3868, protocol: SCTP, targetPort: 3869}]}', /document 2 \(Service "assoc"\): spec\.ports\[0\]\.targetPort: SCTP backends must use the service port 3868/],
    ];
    for (const [svc, words] of cases) {
      const res = await membrane(['lab', 'apply', '-f', '-'], `apiVersion: v1\nkind: Pod\nmetadata: {name: never}\nspec: {containers: [{name: c, image: pause}]}\n---\napiVersion: v1\nkind: Service\n${svc}\n`);
      assert.equal(res.code, 2, `${res.stdout}\n${res.stderr}`);
      assert.match(res.stderr, words);
      assert.equal(res.stdout, '', 'nothing reported created');
      assert.equal(JSON.stringify(readLabState(lab)!.services.map((s) => s.name)), before, 'nothing recorded');
      assert.ok(!(await pods()).some((p) => p.name === 'never'));
    }
    assert.ok(!(await frontends()).some((f) => f.service.name === '1web' || f.service.name === 'assoc'));
    // A mutating command after it goes through (before, every one was refused until the service was deleted).
    await ok(['lab', 'apply', '-f', '-'], CLIENT_DEFAULT);
    await ok(['lab', 'label', 'default/client', 'checked=yes']);
  });

  it('resolves service names from pods in two namespaces: full names, <svc>.<ns>, and short names through the search list', async () => {
    const echo = (await service('galaxy', 'echo'))!;
    const legacy = (await service('default', 'legacy'))!;
    const hosts = async (pod: string, name: string) => (await membrane(['lab', 'exec', pod, '--', 'getent', 'hosts', name]));
    for (const pod of ['galaxy/client', 'default/client']) {
      const full = await hosts(pod, 'echo.galaxy.svc.cluster.local');
      assert.equal(full.code, 0, `${pod}: ${full.stderr}`);
      assert.match(full.stdout, new RegExp(`^${echo.clusterIP.replace(/\./g, '\\.')}\\s+echo\\.galaxy\\.svc\\.cluster\\.local$`, 'm'));
      assert.match((await hosts(pod, 'echo.galaxy')).stdout, new RegExp(`^${echo.clusterIP.replace(/\./g, '\\.')}\\s`));
      assert.match((await hosts(pod, 'kube-dns.kube-system.svc.cluster.local')).stdout, /^10\.96\.0\.10\s/);
    }
    assert.match((await hosts('galaxy/client', 'echo')).stdout, new RegExp(`^${echo.clusterIP.replace(/\./g, '\\.')}\\s`), 'short name in its own namespace');
    assert.match((await hosts('default/client', 'legacy')).stdout, new RegExp(`^${legacy.clusterIP.replace(/\./g, '\\.')}\\s`));
    assert.notEqual((await hosts('default/client', 'echo')).code, 0, 'a short name does not reach into another namespace');
    assert.notEqual((await hosts('default/client', 'deathstar.example.com')).code, 0, 'names outside the cluster do not resolve');
    // Through the service by name, as the Star Wars demo does.
    const byName = await spread('default/client', 'echo.galaxy.svc.cluster.local:80', 5);
    assert.equal([...byName.values()].reduce((a, b) => a + b, 0), 5, JSON.stringify([...byName]));
    const conf = await ok(['lab', 'exec', 'galaxy/client', '--', 'cat', '/etc/resolv.conf']);
    assert.equal(conf.stdout, 'nameserver 10.96.0.10\nsearch galaxy.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n');
    assert.equal(fs.readFileSync('/etc/resolv.conf', 'utf8'), hostResolvConf, "the machine's resolv.conf is untouched");
    assert.ok(!fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(labPaths(lab).dir), 'no lab mount in the machine\'s mount namespace');
  });

  it('resolves a headless service (clusterIP: None) to the addresses of its ready pods, with no load balancing', async () => {
    await apply(`apiVersion: v1
kind: Service
metadata: {name: echo-pods, namespace: galaxy}
spec:
  clusterIP: None
  selector: {app: echo}
  ports: [{name: http, port: 80, targetPort: web}]
`);
    const ips = (await echoPods()).map((p) => p.ip).sort();
    const res = await ok(['lab', 'exec', 'galaxy/client', '--', 'getent', 'ahostsv4', 'echo-pods.galaxy.svc.cluster.local']);
    const answered = [...new Set(res.stdout.split('\n').filter(Boolean).map((l) => l.split(/\s+/)[0]!))].sort();
    assert.deepEqual(answered, ips);
    assert.ok(!(await frontends()).some((f) => f.service.name === 'echo-pods'), 'not load-balanced');
  });

  it('refuses a taken clusterIP naming the field, applying nothing of the manifest', async () => {
    const res = await membrane(['lab', 'apply', '-f', '-'], `apiVersion: v1\nkind: Pod\nmetadata: {name: never}\nspec: {containers: [{name: c, image: pause}]}\n---\n` +
      'apiVersion: v1\nkind: Service\nmetadata: {name: thief}\nspec: {clusterIP: 10.96.0.10, ports: [{port: 53}]}\n');
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /document 2 \(Service "thief"\): spec\.clusterIP: "10\.96\.0\.10": provided IP is already allocated/);
    assert.ok(!(await pods()).some((p) => p.name === 'never'));
  });

  it('removes deleted services from the agent, with their namespace too, and leaves nothing after down', async () => {
    await ok(['lab', 'delete', '-f', '-'], EXTERNAL('10.244.1.1'));
    assert.ok(!(await frontends()).some((f) => f.service.name === 'legacy'));
    assert.equal(await service('default', 'legacy'), undefined);
    await ok(['lab', 'delete', '-f', '-'], 'apiVersion: v1\nkind: Namespace\nmetadata: {name: galaxy}\n');
    assert.deepEqual((await frontends()).map((f) => `${f.service.namespace}/${f.service.name}`), ['kube-system/kube-dns', 'kube-system/kube-dns']);
    assert.deepEqual((await services()).map((s) => s.name), ['kube-dns']);

    await pods();
    const status = JSON.parse((await ok(['lab', 'status', '-o', 'json'])).stdout) as { nodes: { agentPid: number; netns: string }[] };
    seenPids.add(status.nodes[0]!.agentPid);
    for (const ns of seenNetns) for (const pid of netnsPids(ns)) seenPids.add(pid);
    const started = new Map([...seenPids].map((pid) => [pid, processStartTime(pid)] as const));
    await ok(['lab', 'down']);
    const netns = (await run('ip', ['netns', 'list'])).stdout;
    for (const ns of [...seenNetns, status.nodes[0]!.netns]) assert.ok(!netns.includes(ns), `netns ${ns} left behind`);
    for (const [pid, start] of started) if (start !== undefined) assert.notEqual(processStartTime(pid), start, `process ${pid} left running`);
    assert.ok(!fs.existsSync(path.join(BPFFS_ROOT, node)), 'pinned objects left');
    assert.ok(!fs.existsSync(labPaths(lab).dir), 'lab folder (state, DNS records, resolv.conf files) left');
    assert.equal(fs.readFileSync('/etc/resolv.conf', 'utf8'), hostResolvConf);
  });
});
