import path from 'node:path';
import { readLabState } from '../lab/state.js';
import { deathstarPods, destinationCounts, firstLine, httpFlowLine, parseEndpointList, parseTable, policyDropLine, type PodJson } from './checks.js';
import type { DemoRunner } from './runner.js';

/**
 * The Star Wars demo, after Cilium's getting-started guide: the Empire's
 * deathstar, a tiefighter and an xwing; the ships reach the deathstar
 * through its Service by name (`deathstar.default.svc.cluster.local`, via
 * the cluster DNS and membrane's load balancer), and both replicas answer;
 * an L3/L4 policy lets only empire ships land, but cannot stop an empire
 * ship attacking the exhaust port; an L7 (HTTP) policy, enforced by
 * membrane's transparent L7 proxy, lets it land and nothing else.
 * Each chapter runs the commands a user would, prints them and checks their
 * output; the chapters run in order, and `tearDown` always.
 */
export interface StoryOptions {
  lab: string;
  /** Folder of the Star Wars manifests. */
  examples: string;
}

const CURL_TIMEOUT_EXIT = 28;
/** The deathstar Service's name, as the ships use it in Cilium's guide. */
const DEATHSTAR = 'deathstar.default.svc.cluster.local';
/** Landings in the load-balancing chapter: both replicas are hit unless 1 in 2^15 bad luck. */
const LANDINGS = 16;
/** The first line of the deathstar's answer to PUT /v1/exhaust-port. */
const EXPLODED = 'Panic: deathstar exploded';

export class StarWarsStory {
  /** The deathstar replicas (ns/name). */
  private deathstars: string[] = [];
  private socket = '';

  constructor(private readonly r: DemoRunner, private readonly opts: StoryOptions) {}

  private lab(args: string[]) {
    return this.r.membrane(['--lab', this.opts.lab, 'lab', ...args]);
  }

  private file(name: string): string {
    return this.r.shown(path.join(this.opts.examples, name));
  }

  /** The lab, the app, and the deathstar's address. */
  async setUp(): Promise<boolean> {
    const r = this.r;
    r.heading('up', '1. A cluster on this machine');
    if (readLabState(this.opts.lab)) {
      r.say(`A lab named ${this.opts.lab} is already there: tearing it down for a fresh start.`);
      await this.lab(['down']);
    }
    r.say('Each node is a network namespace with a membrane agent in it; each pod will be one too, with a real process.');
    const up = await this.lab(['up']);
    if (!r.check('the lab is up', up.code === 0, `exit ${up.code}`)) return false;

    r.heading('app', '2. Deploy the Star Wars app');
    r.say('A deathstar Deployment (2 replicas, org=empire class=deathstar), and two ships: tiefighter (org=empire) and xwing (org=alliance).');
    const apply = await this.lab(['apply', '-f', this.file('http-sw-app.yaml')]);
    const expected = ['service/deathstar created', 'deployment.apps/deathstar created', 'pod/tiefighter created', 'pod/xwing created'];
    const missing = expected.filter((l) => !apply.stdout.split('\n').includes(l));
    if (!r.check('the app is created', apply.code === 0 && missing.length === 0, apply.code !== 0 ? `exit ${apply.code}` : `missing: ${missing.join(', ')}`)) return false;

    const get = await this.lab(['get', 'pods']);
    const rows = parseTable(get.stdout);
    const running = rows.filter((p) => p['STATUS'] === 'Running' && p['READY'] === '1/1');
    if (!r.check('4 pods are Running and ready', get.code === 0 && rows.length === 4 && running.length === 4, `${running.length} of ${rows.length} running`)) return false;

    const json = await this.r.membrane(['--lab', this.opts.lab, 'lab', 'get', 'pods', '-o', 'json'], { echo: false });
    try {
      this.deathstars = deathstarPods(JSON.parse(json.stdout) as PodJson[]).map((p) => `${p.namespace}/${p.name}`);
    } catch {
      this.deathstars = [];
    }
    if (!r.check('two deathstar replicas', this.deathstars.length === 2, `found ${this.deathstars.join(', ') || 'none'}`)) return false;

    r.say('\nThe ships reach the deathstar by the name of its Service, as in a cluster: the cluster DNS (kube-dns) answers with its ClusterIP,');
    r.say(`and membrane's eBPF load balancer sends each connection to one of the replicas. ${DEATHSTAR}:`);
    const svc = await this.lab(['get', 'services']);
    const deathstar = parseTable(svc.stdout).find((row) => row['NAME'] === 'deathstar');
    return r.check(`the deathstar Service has a ClusterIP (${deathstar?.['CLUSTER-IP'] ?? '?'}) and port 80/TCP`,
      svc.code === 0 && /^10\.\d+\.\d+\.\d+$/.test(deathstar?.['CLUSTER-IP'] ?? '') && deathstar?.['PORT(S)'] === '80/TCP',
      svc.code !== 0 ? `exit ${svc.code}` : 'no deathstar row with a ClusterIP and 80/TCP in lab get services');
  }

  private async land(ship: 'xwing' | 'tiefighter') {
    return this.lab(['exec', `default/${ship}`, '--', 'curl', '-s', '--connect-timeout', '3', '-XPOST', `${DEATHSTAR}/v1/request-landing`]);
  }

  private async expectLanding(ship: 'xwing' | 'tiefighter'): Promise<boolean> {
    const res = await this.land(ship);
    return this.r.check(`${ship} landed`, res.code === 0 && res.stdout === 'Ship landed\n', `exit ${res.code}, output ${JSON.stringify(res.stdout)}`);
  }

  /** Without a policy, every ship may land. */
  async landWithoutPolicy(): Promise<boolean> {
    this.r.heading('no-policy', '3. No policy: every ship may land');
    const xwing = await this.expectLanding('xwing');
    const tiefighter = await this.expectLanding('tiefighter');
    return xwing && tiefighter;
  }

  /** The Service balances: both deathstar replicas take landings, as the flows show. */
  async bothReplicasServe(): Promise<boolean> {
    this.r.heading('balance', '4. The Service spreads the landings over both deathstars');
    this.r.say(`${LANDINGS} more landings from the tiefighter, each a new connection to ${DEATHSTAR}:`);
    const res = await this.lab(['exec', 'default/tiefighter', '--', 'sh', '-c',
      `for i in $(seq ${LANDINGS}); do curl -s --connect-timeout 3 -XPOST ${DEATHSTAR}/v1/request-landing; done`]);
    const landed = res.stdout.split('\n').filter((l) => l === 'Ship landed').length;
    const allLanded = this.r.check(`all ${LANDINGS} ships landed`, res.code === 0 && landed === LANDINGS, `exit ${res.code}, ${landed} landed`);
    if (!await this.nodeSocket()) return false;
    this.r.say('The load balancer: the Service\'s frontend (its ClusterIP and port) and its two backends, the replicas:');
    const list = await this.r.membrane(['--socket', this.socket, 'service', 'list']);
    const listed = this.r.check('service list shows the deathstar frontend with 2 active backends',
      list.code === 0 && (list.stdout.match(/:80\/TCP \(active\)/g) ?? []).length >= 2, list.code !== 0 ? `exit ${list.code}` : 'fewer than 2 active :80/TCP backends');
    this.r.say('Where the landings went (the flows name the pod that took each connection, and the Service it was addressed to):');
    const flows = await this.r.membrane(['--socket', this.socket, 'observe', '--from-pod', 'default/tiefighter', '--to-label', 'class=deathstar', '--last', '200'], { echo: false });
    const counts = destinationCounts(flows.stdout, this.deathstars);
    this.r.say(this.deathstars.map((d) => `  ${d}: ${counts.get(d) ?? 0} flows`).join('\n'));
    const both = this.r.check('both deathstar replicas took landings', flows.code === 0 && this.deathstars.every((d) => (counts.get(d) ?? 0) > 0),
      flows.code !== 0 ? `exit ${flows.code}` : this.deathstars.map((d) => `${d}: ${counts.get(d) ?? 0}`).join(', '));
    return allLanded && listed && both;
  }

  async applyL3L4(): Promise<boolean> {
    this.r.heading('l3l4', '5. An L3/L4 policy: only empire ships, only TCP port 80');
    this.r.say('rule1 selects the deathstar (org=empire, class=deathstar) and allows ingress from org=empire endpoints on TCP 80.');
    const res = await this.lab(['apply', '-f', this.file('sw_l3_l4_policy.yaml')]);
    return this.r.check('rule1 is created', res.code === 0 && res.stdout.includes('ciliumnetworkpolicy.cilium.io/rule1 created'), `exit ${res.code}`);
  }

  /** With rule1, the tiefighter lands and the xwing's packets are dropped. */
  async landWithPolicy(): Promise<boolean> {
    this.r.heading('with-policy', '6. The tiefighter lands; the xwing is turned away');
    const tiefighter = await this.expectLanding('tiefighter');
    this.r.say('The xwing\'s SYN packets are dropped, so curl gives up after its 3 s connect timeout (exit 28):');
    const res = await this.land('xwing');
    const xwing = this.r.check('xwing did not land (curl timed out, exit 28)',
      res.code === CURL_TIMEOUT_EXIT && !res.stdout.includes('Ship landed'), `exit ${res.code}, output ${JSON.stringify(res.stdout)}`);
    return tiefighter && xwing;
  }

  private async nodeSocket(): Promise<boolean> {
    if (this.socket) return true;
    const res = await this.lab(['socket']);
    this.socket = res.stdout.trim();
    return this.r.check('found the node agent\'s socket', res.code === 0 && this.socket !== '', `exit ${res.code}`);
  }

  /** The drop shows up as a flow. */
  async dropFlow(): Promise<boolean> {
    this.r.heading('observe', '7. Observe the drop');
    this.r.say('Every verdict of the datapath is a flow. The agent of the node:');
    if (!await this.nodeSocket()) return false;
    const res = await this.r.membrane(['--socket', this.socket, 'observe', '--pod', 'deathstar', '--verdict', 'DROPPED', '--last', '5']);
    // The load balancer picked one of the replicas for the xwing's connection: its drop names that one.
    const drop = this.deathstars.map((d) => policyDropLine(res.stdout, 'default/xwing', d)).find((l) => l !== undefined);
    return this.r.check('the xwing\'s packet to a deathstar replica was dropped: "Policy denied ... DROPPED"',
      res.code === 0 && drop !== undefined,
      res.code !== 0 ? `exit ${res.code}` : `no "Policy denied ... DROPPED" flow from default/xwing to ${this.deathstars.join(' or ')}`);
  }

  /** The deathstar endpoints enforce ingress policy. */
  async endpointEnforcement(): Promise<boolean> {
    this.r.heading('endpoints', '8. Policy enforcement on the deathstar endpoints');
    if (!await this.nodeSocket()) return false;
    const res = await this.r.membrane(['--socket', this.socket, 'endpoint', 'list']);
    const deathstars = parseEndpointList(res.stdout).filter((e) => e.text.includes('class=deathstar'));
    const enforced = deathstars.filter((e) => e.ingress === 'Enabled');
    return this.r.check('both deathstar endpoints enforce ingress policy (POLICY (ingress) ENFORCEMENT = Enabled)',
      res.code === 0 && deathstars.length === 2 && enforced.length === 2,
      res.code !== 0 ? `exit ${res.code}` : `${enforced.length} of ${deathstars.length} deathstar endpoints enforce ingress`);
  }

  /** What L3/L4 cannot see: to rule1, an attack on the exhaust port is one more TCP connection to port 80. */
  async exhaustPortBeforeL7(): Promise<boolean> {
    this.r.heading('before-l7', '9. What an L3/L4 policy cannot see: the exhaust port');
    this.r.say('rule1 lets empire ships reach TCP port 80, whatever they send there. The tiefighter may land, and may just as well attack the exhaust port:');
    const res = await this.lab(['exec', 'default/tiefighter', '--', 'curl', '-s', '--connect-timeout', '3', '-XPUT', `${DEATHSTAR}/v1/exhaust-port`]);
    const ok = this.r.check(`the deathstar exploded (the answer starts with "${EXPLODED}")`,
      res.code === 0 && firstLine(res.stdout) === EXPLODED, `exit ${res.code}, first line ${JSON.stringify(firstLine(res.stdout))}`);
    this.r.say('An L3/L4 policy cannot tell a landing request from an attack on the exhaust port: both are TCP to port 80 from an empire ship.\n' +
      'An HTTP-aware (L7) policy can, next.');
    return ok;
  }

  /** rule1 again, now with an HTTP rule: empire ships may only POST /v1/request-landing. */
  async applyL7(): Promise<boolean> {
    this.r.heading('l7', '10. An L7 policy: land, and nothing else');
    this.r.say('The same rule1, as Cilium publishes it, now with `rules.http`: from org=empire, TCP 80, only POST /v1/request-landing.\n' +
      'Applying it replaces the L3/L4 version (same name). Connections to the deathstar on port 80 now go through membrane\'s L7 proxy,\n' +
      'transparently: the ship still talks to the deathstar\'s address, the deathstar still sees the ship\'s.');
    const res = await this.lab(['apply', '-f', this.file('sw_l3_l4_l7_policy.yaml')]);
    return this.r.check('rule1 is configured', res.code === 0 && res.stdout.includes('ciliumnetworkpolicy.cilium.io/rule1 configured'),
      `exit ${res.code}, output ${JSON.stringify(res.stdout.trim())}`);
  }

  /** Under the L7 policy: the landing passes, the exhaust port is denied by the proxy, the xwing is still dropped at L3. */
  async landWithL7(): Promise<boolean> {
    this.r.heading('with-l7', '11. The tiefighter lands, but cannot fire at the exhaust port; the xwing is still turned away');
    const landed = await this.expectLanding('tiefighter');
    this.r.say('The same PUT that blew the deathstar up a moment ago:');
    const put = await this.lab(['exec', 'default/tiefighter', '--', 'curl', '-s', '--connect-timeout', '3', '-XPUT', `${DEATHSTAR}/v1/exhaust-port`]);
    const denied = this.r.check('the exhaust port is out of reach: "Access denied" (the proxy\'s 403)',
      put.code === 0 && put.stdout === 'Access denied\r\n', `exit ${put.code}, output ${JSON.stringify(put.stdout)}`);
    this.r.say('The xwing never gets as far as HTTP: its packets are dropped at L3, as before:');
    const xw = await this.land('xwing');
    const xwing = this.r.check('xwing did not land (curl timed out, exit 28)',
      xw.code === CURL_TIMEOUT_EXIT && !xw.stdout.includes('Ship landed'), `exit ${xw.code}, output ${JSON.stringify(xw.stdout)}`);
    return landed && denied && xwing;
  }

  /** Each HTTP decision is a flow: the landing forwarded with its 200, the attack dropped with the proxy's 403. */
  async l7Flows(): Promise<boolean> {
    this.r.heading('observe-l7', '12. Observe the HTTP requests');
    if (!await this.nodeSocket()) return false;
    this.r.say('The proxy reports each request and response as an L7 flow (http-request, http-response), with method, URL and status:');
    const res = await this.r.membrane(['--socket', this.socket, 'observe', '--pod', 'deathstar', '--type', 'l7', '--last', '8']);
    const url = `http://${DEATHSTAR}`;
    const from = 'default/tiefighter';
    const expect: [string, string][] = [
      ['the landing request was forwarded', `http-request FORWARDED (HTTP/1.1 POST ${url}/v1/request-landing)`],
      ['the deathstar answered the landing 200', `http-response FORWARDED (HTTP/1.1 200 `],
      ['the exhaust-port request was dropped', `http-request DROPPED (HTTP/1.1 PUT ${url}/v1/exhaust-port)`],
      ['the proxy answered it 403', `http-response FORWARDED (HTTP/1.1 403 `],
    ];
    let ok = res.code === 0;
    for (const [what, text] of expect) {
      const line = httpFlowLine(res.stdout, from, this.deathstars, text);
      ok = this.r.check(`${what}: "${text.trim()}…"`, res.code === 0 && line !== undefined,
        res.code !== 0 ? `exit ${res.code}` : `no L7 flow between ${from} and ${this.deathstars.join(' or ')} with "${text}"`) && ok;
    }
    this.r.say('And the xwing\'s attempt, still a drop at L3 (no HTTP flow for it: it never reached the proxy):');
    const xw = await this.r.membrane(['--socket', this.socket, 'observe', '--from-pod', 'default/xwing', '--verdict', 'DROPPED', '--last', '2']);
    const drop = this.deathstars.map((d) => policyDropLine(xw.stdout, 'default/xwing', d)).find((l) => l !== undefined);
    ok = this.r.check('the xwing\'s packet was dropped: "Policy denied ... DROPPED"', xw.code === 0 && drop !== undefined,
      xw.code !== 0 ? `exit ${xw.code}` : 'no "Policy denied ... DROPPED" flow from default/xwing') && ok;
    this.r.say('The proxy is a process of the agent\'s, started with the first HTTP rule; the agent\'s status shows it:');
    const status = await this.r.membrane(['--socket', this.socket, 'status']);
    const proxyLine = status.stdout.split('\n').find((l) => l.startsWith('L7 proxy:'));
    ok = this.r.check('membrane status shows the L7 proxy running ("L7 proxy: Ok")', status.code === 0 && /^L7 proxy:\s+Ok/.test(proxyLine ?? ''),
      status.code !== 0 ? `exit ${status.code}` : `line ${JSON.stringify(proxyLine ?? '(none)')}`) && ok;
    return ok;
  }

  async tearDown(): Promise<boolean> {
    this.r.heading('down', 'The end: tear the lab down');
    const res = await this.lab(['down']);
    return this.r.check('the lab is gone', res.code === 0, `exit ${res.code}`);
  }
}
