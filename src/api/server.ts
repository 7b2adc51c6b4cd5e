/**
 * The agent's REST API on a root-only unix socket (mode 0600). JSON in and
 * out; errors are `{error: {code, message, path?}}` with an HTTP status
 * derived from the error code. Bad requests never change state: the agent
 * validates before it acts.
 */
import http from 'node:http';
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { MembraneError } from '../common/errors.js';
import type { Agent } from '../agent/agent.js';
import type { CniGcRequest, EndpointChangeRequest, NamespaceModel, PodMetaModel, PolicyImportRequest, PolicyRef } from './types.js';
import { type FlowFilter, compileFlowFilters, parseFlowFilters } from '../hubble/filter.js';
import type { Flow } from '../hubble/flow.js';
import { lostEventsLine } from '../hubble/lost.js';
import { streamAgentEvents } from './agent-events-route.js';
import { parseCniRequest, runCniInAgent, writeCniAnswer } from './cni-route.js';
import { replayFlows } from '../hubble/history.js';
import { type FlowSelection, flowSelected, pastUntil } from '../hubble/grpc/select.js';

const MAX_BODY = 32 * 1024 * 1024;
/**
 * How far a /v1/flows follower may fall behind before its flows are skipped:
 * about a default ring's worth of flows as JSON (Hubble lets a follower lag
 * by up to its ring), so a reader that keeps up on average loses nothing.
 */
const FOLLOWER_BUFFER_BYTES = 4 * 1024 * 1024;
const STATUS_OF: Record<string, number> = { EINVAL: 400, ENOTFOUND: 404, EEXIST: 409, EAGENT: 502, EEXHAUSTED: 507, ESTATE: 500, EKERNEL: 500, EEXEC: 500 };

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, params: string[], url: URL) => Promise<unknown> | unknown;

interface Route {
  method: string;
  /** The path as written in the route table (/v1/endpoints/{id}): the metrics label, never the raw path. */
  template: string;
  pattern: RegExp;
  handler: Handler;
}

/** What the API reports to the metrics (src/metrics/agent-source.ts MembraneMetrics fits). */
export interface ApiMetricsHooks {
  agent: { observeApiRequest(method: string | undefined, routeTemplate: string | undefined, status: number, seconds: number): void };
  exposition(): Promise<{ contentType: string; text: string }>;
}

function readBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new MembraneError('EINVAL', `request body over ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (!text) return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch (cause) {
        reject(new MembraneError('EINVAL', `request body is not valid JSON: ${(cause as Error).message}`));
      }
    });
    req.on('error', reject);
  });
}

function requireObject<T>(body: unknown, what: string): T {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new MembraneError('EINVAL', `${what}: the body must be a JSON object`);
  return body as T;
}

const POLICY_KINDS = new Set(['CiliumNetworkPolicy', 'CiliumClusterwideNetworkPolicy', 'NetworkPolicy']);

export class ApiServer {
  private readonly server: http.Server;
  private readonly routes: Route[] = [];

  constructor(private readonly agent: Agent, private readonly socketPath: string, private readonly log: (m: string) => void,
    private readonly metrics?: ApiMetricsHooks) {
    this.server = http.createServer((req, res) => void this.dispatch(req, res));
    const r = (method: string, pattern: string, handler: Handler) =>
      this.routes.push({ method, template: pattern, pattern: new RegExp(`^${pattern.replace(/\{\w+\}/g, '([^/]+)')}$`), handler });

    r('GET', '/v1/healthz', () => ({ ok: true }));
    r('GET', '/v1/config', () => agent.config());
    r('GET', '/v1/status', () => agent.statusModel());
    r('GET', '/v1/metrics', () => agent.metrics());
    r('GET', '/v1/metrics/prometheus', async (_q, res) => {
      if (!this.metrics) throw new MembraneError('ENOTFOUND', 'metrics are not enabled on this agent');
      const { contentType, text } = await this.metrics.exposition();
      res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
    r('POST', '/v1/ipam', async (req) => agent.allocateIp(requireObject<{ owner: string }>(await readBody(req), 'POST /v1/ipam').owner));
    r('DELETE', '/v1/ipam/{ip}', async (_q, res, [ip]) => { await agent.releaseIp(ip!); res.statusCode = 204; });
    r('PUT', '/v1/endpoints', async (req) => agent.putEndpoint(requireObject<EndpointChangeRequest>(await readBody(req), 'PUT /v1/endpoints')));
    r('GET', '/v1/endpoints', () => agent.listEndpoints());
    r('GET', '/v1/endpoints/cni/{c}/{i}', (_q, _s, [c, i]) => agent.getEndpointByAttachment(c!, i!));
    r('DELETE', '/v1/endpoints/cni/{c}/{i}', async (_q, res, [c, i]) => { await agent.deleteEndpointByAttachment(c!, i!); res.statusCode = 204; });
    r('GET', '/v1/endpoints/{id}', (_q, _s, [id]) => {
      if (!/^\d+$/.test(id!)) throw new MembraneError('EINVAL', `endpoint id "${id}" is not a number`);
      return agent.getEndpoint(Number(id));
    });
    r('POST', '/v1/cni/gc', async (req) => {
      const body = requireObject<CniGcRequest>(await readBody(req), 'POST /v1/cni/gc');
      if (!Array.isArray(body.validAttachments)) throw new MembraneError('EINVAL', 'validAttachments: must be an array', { path: 'validAttachments' });
      return agent.cniGc(body);
    });
    // The compiled CNI shim's fast path (src/api/cni-route.ts).
    r('POST', '/v1/cni', async (req, res) => {
      writeCniAnswer(res, await runCniInAgent(agent, this.socketPath, parseCniRequest(await readBody(req))));
    });
    r('GET', '/v1/identities', () => agent.listIdentities());
    r('GET', '/v1/policies', () => agent.listPolicies());
    r('PUT', '/v1/policies', async (req) => {
      const body = requireObject<PolicyImportRequest>(await readBody(req), 'PUT /v1/policies');
      if (typeof body.text !== 'string') throw new MembraneError('EINVAL', 'text: must be the policy YAML or JSON as a string', { path: 'text' });
      return agent.importPolicies(body.text, body.defaultNamespace ?? 'default');
    });
    r('DELETE', '/v1/policies', (_q, _s, _p, url) => {
      if (url.searchParams.get('all') !== 'true') throw new MembraneError('EINVAL', 'name a policy (/v1/policies/{kind}/{namespace}/{name}) or pass all=true');
      return agent.deletePolicies('all');
    });
    r('DELETE', '/v1/policies/{kind}/{ns}/{name}', (_q, _s, [kind, ns, name]) => {
      if (!POLICY_KINDS.has(kind!)) throw new MembraneError('EINVAL', `unknown policy kind "${kind}"`);
      return agent.deletePolicies({ kind: kind as PolicyRef['kind'], namespace: ns === '-' ? '' : ns!, name: name! });
    });
    r('POST', '/v1/policy/trace', async (req) => agent.tracePolicy(await readBody(req)));
    r('POST', '/v1/policy/traces', async (req) => ({ results: await agent.tracePolicies(await readBody(req)) }));
    r('GET', '/v1/k8s/namespaces', () => agent.listNamespaces());
    r('PUT', '/v1/k8s/namespaces/{name}', async (req, res, [name]) => {
      const body = requireObject<NamespaceModel>(await readBody(req), 'PUT namespace');
      await agent.putNamespace({ name: name!, labels: body.labels ?? {} });
      res.statusCode = 204;
    });
    r('DELETE', '/v1/k8s/namespaces/{name}', async (_q, res, [name]) => { await agent.deleteNamespace(name!); res.statusCode = 204; });
    r('GET', '/v1/k8s/pods', () => agent.listPods());
    r('PUT', '/v1/k8s/pods/{ns}/{name}', async (req, res, [ns, name]) => {
      const body = requireObject<PodMetaModel>(await readBody(req), 'PUT pod');
      await agent.putPod({ namespace: ns!, name: name!, labels: body.labels ?? {}, serviceAccount: body.serviceAccount ?? 'default', containerPorts: body.containerPorts ?? [] });
      res.statusCode = 204;
    });
    r('DELETE', '/v1/k8s/pods/{ns}/{name}', async (_q, res, [ns, name]) => { await agent.deletePod(ns!, name!); res.statusCode = 204; });
    r('GET', '/v1/k8s/services', () => agent.listK8sServices());
    r('PUT', '/v1/k8s/services/{ns}/{name}', async (req, res, [ns, name]) => {
      await agent.putService(requireObject<unknown>(await readBody(req), 'PUT service'), { namespace: ns!, name: name! });
      res.statusCode = 204;
    });
    r('DELETE', '/v1/k8s/services/{ns}/{name}', async (_q, res, [ns, name]) => { await agent.deleteService(ns!, name!); res.statusCode = 204; });
    r('GET', '/v1/services', () => agent.listServices());
    r('GET', '/v1/services/{id}', (_q, _s, [id]) => {
      if (!/^\d+$/.test(id!)) throw new MembraneError('EINVAL', `service id "${id}" is not a number`);
      return agent.getService(Number(id));
    });
    r('GET', '/v1/flows', (req, res, _p, url) => this.flows(req, res, url));
    r('GET', '/v1/agent-events', (req, res, _p, url) => streamAgentEvents(agent.agentEvents, req, res, url));
  }

  listen(): Promise<void> {
    mkdirSync(path.dirname(this.socketPath), { recursive: true });
    if (existsSync(this.socketPath)) unlinkSync(this.socketPath);
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.socketPath, () => {
        chmodSync(this.socketPath, 0o600);
        resolve();
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async dispatch(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://membrane');
    const started = Date.now();
    let template: string | undefined;
    const t0 = process.hrtime.bigint();
    res.once('finish', () => this.metrics?.agent.observeApiRequest(req.method, template, res.statusCode, Number(process.hrtime.bigint() - t0) / 1e9));
    try {
      let matchedPath = false;
      for (const route of this.routes) {
        const m = route.pattern.exec(url.pathname);
        if (!m) continue;
        matchedPath = true;
        template = route.template;
        if (route.method !== req.method) continue;
        const result = await route.handler(req, res, m.slice(1).map(decodeURIComponent), url);
        if (res.headersSent || res.writableEnded) return;
        if (result === undefined) {
          if (res.statusCode === 200) res.statusCode = 204;
          res.end();
        } else {
          const body = JSON.stringify(result);
          res.writeHead(res.statusCode || 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
          res.end(body);
        }
        return;
      }
      throw new MembraneError(matchedPath ? 'EINVAL' : 'ENOTFOUND', matchedPath ? `method ${req.method} not allowed on ${url.pathname}` : `no such API path ${url.pathname}`);
    } catch (err) {
      const e = err instanceof MembraneError ? err : new MembraneError('EKERNEL', (err as Error).message ?? String(err), { cause: err });
      const status = STATUS_OF[e.code] ?? 500;
      if (status >= 500) this.log(`${req.method} ${url.pathname} failed after ${Date.now() - started} ms: ${e.message}`);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const body = JSON.stringify({ error: { code: e.code, message: e.message, ...(e.path !== undefined ? { path: e.path } : {}) } });
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    }
  }

  /**
   * GET /v1/flows: NDJSON of flows, oldest first. Query: number (last N,
   * default 20; 0 = all), first=true (the first N instead), follow=true,
   * since/until (ISO or RFC 3339), whitelist/blacklist (JSON FlowFilter arrays).
   * A `since` older than the ring's oldest flow reaches into the node's flow
   * log (--hubble-export-file-path), when there is one. A follower that reads too slowly gets `{"lost_events": {"source":
   * "HUBBLE_RING_BUFFER", "num_events_lost": N}}` lines in place of the flows it missed.
   */
  private async flows(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const q = url.searchParams;
    const parseFilters = (name: string): FlowFilter[] | undefined => {
      const v = q.get(name);
      if (!v) return undefined;
      let parsed: unknown;
      try {
        parsed = JSON.parse(v);
      } catch (cause) {
        throw new MembraneError('EINVAL', `${name}: must be a JSON array of flow filters (${(cause as Error).message})`, { path: name });
      }
      return parseFlowFilters(parsed, name);
    };
    const whitelist = parseFilters('whitelist');
    const blacklist = parseFilters('blacklist');
    const numberText = q.get('number');
    const number = numberText === null ? 20 : Number(numberText);
    if (!Number.isInteger(number) || number < 0) throw new MembraneError('EINVAL', `number: "${numberText}" is not a non-negative integer`, { path: 'number' });
    const time = (name: string) => {
      const v = q.get(name);
      if (!v) return undefined;
      const t = Date.parse(v);
      if (Number.isNaN(t)) throw new MembraneError('EINVAL', `${name}: "${v}" is not a time`, { path: name });
      return t;
    };
    const since = time('since');
    const until = time('until');
    const follow = q.get('follow') === 'true';
    const first = q.get('first') === 'true';
    const ring = this.agent.ring;
    // One selection with GetFlows (src/hubble/grpc/select.ts), but here number=0 is every flow even when
    // following (as hubble's --all asks for the largest count), where GetFlows' 0 with follow means none.
    const sel: FlowSelection = { number: number === 0 && follow && since === undefined && !first ? ring.capacity : number, first, follow };
    if (since !== undefined) sel.sinceMs = since;
    if (until !== undefined) sel.untilMs = until;
    if (whitelist) sel.whitelist = whitelist;
    if (blacklist) sel.blacklist = blacklist;
    // The datapath's events up to now first: a reader asking right after some traffic sees its flows.
    await this.agent.flushFlows();
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    // The flow log first when `since` reaches back past the ring (src/hubble/history.ts), then the ring.
    const replay = replayFlows({ ring, flowLog: this.agent.flowLog }, sel);
    const gone = () => res.destroyed || res.writableEnded;
    try {
      for await (const f of replay) {
        if (gone()) break;
        if (!res.write(JSON.stringify(f) + '\n')) await drainedOrClosed(res);
      }
    } catch (err) {
      replay.close();
      throw err;
    }
    if (!follow || gone()) {
      replay.close();
      res.end();
      return;
    }
    // Nothing unbounded: once FOLLOWER_BUFFER_BYTES wait unsent for this
    // reader, its flows are skipped and counted (HUBBLE_RING_BUFFER, shared
    // with the gRPC followers' count) until the socket drains, and then a
    // lost_events line says how many it missed.
    // A follower on a quiet ring must see the response start before its first flow.
    res.flushHeaders();
    let blocked = res.writableLength >= FOLLOWER_BUFFER_BYTES;
    let skipped = 0;
    let unfollow = () => {};
    const passes = compileFlowFilters(sel.whitelist, sel.blacklist);
    const live = (f: Flow) => {
      if (pastUntil(f, sel)) {
        unfollow();
        res.end();
        return;
      }
      if (!flowSelected(f, sel, passes)) return;
      if (blocked) {
        skipped++;
        ring.countFollowerLoss(1);
        return;
      }
      res.write(JSON.stringify(f) + '\n');
      // Past the stream's high-water mark, so 'drain' will come once the reader catches up.
      if (res.writableLength >= FOLLOWER_BUFFER_BYTES) blocked = true;
    };
    // The flows that came while the replay was read, then the ring itself, in the same tick: no gap.
    const held = replay.takeHeld();
    if (held.lost > 0) {
      if (blocked) skipped += held.lost;
      else res.write(lostEventsLine('hubble_ring_buffer', held.lost));
    }
    for (const f of held.flows) {
      if (res.writableEnded) return;
      live(f);
    }
    if (res.writableEnded) return;
    unfollow = ring.follow(live);
    res.on('drain', () => {
      blocked = false;
      if (skipped > 0) {
        const line = lostEventsLine('hubble_ring_buffer', skipped);
        skipped = 0;
        res.write(line);
      }
    });
    const stop = () => unfollow();
    req.on('close', stop);
    res.on('close', stop);
  }
}

/** Resolves once the response drains or closes (a reader gone away never drains). */
function drainedOrClosed(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
