import http from 'node:http';
import { MembraneError } from '../common/errors.js';
import type {
  AgentConfigModel, ApiErrorBody, CniGcRequest, CniGcResponse, EndpointChangeRequest, EndpointModel,
  IdentityModel, IpamResponse, K8sServiceModel, NamespaceModel, PodMetaModel, PolicyDeleteResponse, PolicyImportRequest,
  PolicyImportResponse, PolicyListModel, PolicyRef, PolicyTraceBatchRequest, PolicyTraceBatchResponse, PolicyTraceRequest,
  PolicyTraceResponse, ServiceFrontendModel, StatusModel,
} from './types.js';

/** Default path of a standalone agent's socket. Lab agents use one per node. */
export const DEFAULT_AGENT_SOCKET = '/var/run/membrane/agent.sock';

/**
 * Client of the agent's REST API over its unix socket. Every method throws a
 * MembraneError: code EAGENT when the agent cannot be reached, otherwise the
 * code the agent answered with (EINVAL, ENOTFOUND, ...), with `path` set for
 * input errors.
 */
export class AgentClient {
  constructor(readonly socketPath: string, private readonly timeoutMs = 120_000) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise<T>((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          path,
          method,
          headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
          timeout: this.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              resolve((text ? JSON.parse(text) : undefined) as T);
              return;
            }
            let parsed: ApiErrorBody | undefined;
            try {
              parsed = JSON.parse(text) as ApiErrorBody;
            } catch {
              parsed = undefined;
            }
            const e = parsed?.error;
            const err = new MembraneError(
              (e?.code as MembraneError['code']) ?? 'EAGENT',
              e?.message ?? `agent answered ${method} ${path} with HTTP ${status}: ${text.slice(0, 200)}`,
              e?.path !== undefined ? { path: e.path } : {},
            );
            reject(err);
          });
          res.on('error', (cause) => reject(new MembraneError('EAGENT', `reading the agent's answer to ${method} ${path} failed`, { cause })));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`timed out after ${this.timeoutMs} ms`)));
      req.on('error', (cause: NodeJS.ErrnoException) =>
        reject(new MembraneError('EAGENT', `unable to reach the membrane agent at ${this.socketPath}: ${cause.message}` +
          (cause.code === 'ENOENT' || cause.code === 'ECONNREFUSED' ? ' (is the agent running?)' : ''), { cause })));
      if (payload) req.write(payload);
      req.end();
    });
  }

  /** Opens a streaming GET and calls `onLine` for every NDJSON line until the stream ends or `signal` aborts. */
  stream(path: string, onLine: (obj: unknown) => void, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = http.request({ socketPath: this.socketPath, path, method: 'GET', signal }, (res) => {
        if ((res.statusCode ?? 0) >= 300) {
          reject(new MembraneError('EAGENT', `agent answered GET ${path} with HTTP ${res.statusCode}`));
          res.resume();
          return;
        }
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (line.trim()) onLine(JSON.parse(line));
          }
        });
        res.on('end', () => resolve());
        res.on('error', (e) => (signal?.aborted ? resolve() : reject(e)));
      });
      req.on('error', (cause) => {
        if (signal?.aborted) resolve();
        else reject(new MembraneError('EAGENT', `unable to reach the membrane agent at ${this.socketPath}`, { cause }));
      });
      req.end();
    });
  }

  healthz(): Promise<{ ok: boolean }> { return this.request('GET', '/v1/healthz'); }
  config(): Promise<AgentConfigModel> { return this.request('GET', '/v1/config'); }
  status(): Promise<StatusModel> { return this.request('GET', '/v1/status'); }
  allocateIp(owner: string): Promise<IpamResponse> { return this.request('POST', '/v1/ipam', { owner }); }
  releaseIp(ip: string): Promise<void> { return this.request('DELETE', `/v1/ipam/${encodeURIComponent(ip)}`); }
  putEndpoint(req: EndpointChangeRequest): Promise<EndpointModel> { return this.request('PUT', '/v1/endpoints', req); }
  listEndpoints(): Promise<EndpointModel[]> { return this.request('GET', '/v1/endpoints'); }
  getEndpoint(id: number): Promise<EndpointModel> { return this.request('GET', `/v1/endpoints/${id}`); }
  getEndpointByAttachment(containerId: string, ifName: string): Promise<EndpointModel> {
    return this.request('GET', `/v1/endpoints/cni/${encodeURIComponent(containerId)}/${encodeURIComponent(ifName)}`);
  }
  deleteEndpointByAttachment(containerId: string, ifName: string): Promise<void> {
    return this.request('DELETE', `/v1/endpoints/cni/${encodeURIComponent(containerId)}/${encodeURIComponent(ifName)}`);
  }
  cniGc(req: CniGcRequest): Promise<CniGcResponse> { return this.request('POST', '/v1/cni/gc', req); }
  listIdentities(): Promise<IdentityModel[]> { return this.request('GET', '/v1/identities'); }
  listPolicies(): Promise<PolicyListModel> { return this.request('GET', '/v1/policies'); }
  importPolicies(req: PolicyImportRequest): Promise<PolicyImportResponse> { return this.request('PUT', '/v1/policies', req); }
  deleteAllPolicies(): Promise<PolicyDeleteResponse> { return this.request('DELETE', '/v1/policies?all=true'); }
  deletePolicy(ref: PolicyRef): Promise<PolicyDeleteResponse> {
    const ns = ref.namespace === '' ? '-' : ref.namespace;
    return this.request('DELETE', `/v1/policies/${ref.kind}/${encodeURIComponent(ns)}/${encodeURIComponent(ref.name)}`);
  }
  /** The verdict one packet would get from the agent's policy, with the rule behind it (`membrane policy trace`). */
  tracePolicy(req: PolicyTraceRequest): Promise<PolicyTraceResponse> { return this.request('POST', '/v1/policy/trace', req); }
  /** Many traces in one call and one pass over the agent's state; results in the order asked. */
  async tracePolicies(requests: PolicyTraceRequest[]): Promise<PolicyTraceResponse[]> {
    return (await this.request<PolicyTraceBatchResponse>('POST', '/v1/policy/traces', { requests } satisfies PolicyTraceBatchRequest)).results;
  }
  listNamespaces(): Promise<NamespaceModel[]> { return this.request('GET', '/v1/k8s/namespaces'); }
  putNamespace(ns: NamespaceModel): Promise<void> { return this.request('PUT', `/v1/k8s/namespaces/${encodeURIComponent(ns.name)}`, ns); }
  deleteNamespace(name: string): Promise<void> { return this.request('DELETE', `/v1/k8s/namespaces/${encodeURIComponent(name)}`); }
  listPods(): Promise<PodMetaModel[]> { return this.request('GET', '/v1/k8s/pods'); }
  putPod(pod: PodMetaModel): Promise<void> {
    return this.request('PUT', `/v1/k8s/pods/${encodeURIComponent(pod.namespace)}/${encodeURIComponent(pod.name)}`, pod);
  }
  deletePod(namespace: string, name: string): Promise<void> {
    return this.request('DELETE', `/v1/k8s/pods/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`);
  }

  // ---- services ----
  /** Creates or replaces a service with its backends; resolves once the load balancer holds it. */
  putService(svc: K8sServiceModel): Promise<void> {
    return this.request('PUT', `/v1/k8s/services/${encodeURIComponent(svc.namespace)}/${encodeURIComponent(svc.name)}`, svc);
  }
  /** Removes a service and its frontends; resolves also when there was none. */
  deleteService(namespace: string, name: string): Promise<void> {
    return this.request('DELETE', `/v1/k8s/services/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`);
  }
  /** The services as the agent received them, sorted by namespace, then name. */
  listK8sServices(): Promise<K8sServiceModel[]> { return this.request('GET', '/v1/k8s/services'); }
  /** The load balancer's frontends, by id (`membrane service list`). */
  listServices(): Promise<ServiceFrontendModel[]> { return this.request('GET', '/v1/services'); }
  /** One frontend by id; ENOTFOUND when there is none. */
  getService(id: number): Promise<ServiceFrontendModel> { return this.request('GET', `/v1/services/${id}`); }

  /** GET /v1/agent-events (query: number, first, follow, since, until): each NDJSON line (AgentEventRecordModel, or a lost_events notice) to `onLine`. */
  agentEvents(query: URLSearchParams, onLine: (obj: unknown) => void, signal?: AbortSignal): Promise<void> {
    return this.stream(`/v1/agent-events?${query}`, onLine, signal);
  }
}
