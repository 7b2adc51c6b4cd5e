/**
 * Hubble's HTTP metrics, from the L7 proxy's flows (hubble/l7-flow.ts):
 *
 *   hubble_http_requests_total{method, protocol, status, reporter}  (httpV2: one per response, with its status)
 *   hubble_http_responses_total{method, status, reporter}           (http: one per response)
 *   hubble_http_request_duration_seconds{method, reporter}          (histogram of request-to-response latency)
 *
 * As Hubble's httpV2 handler, requests are counted when their response is
 * seen, so the count carries the status (a request denied by policy counts
 * with the proxy's 403). `reporter` says which side's proxy saw it: server
 * for ingress, client for egress, as Hubble names them.
 *
 * Every label value is bounded: methods outside the standard set are
 * "other", protocols outside HTTP/1.0, 1.1, 2 are "other", a status outside
 * 0..599 is "other". Counting is cheap: the prom-client child of each label
 * set is kept by the few values that pick it, so a flow costs a few map
 * lookups.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Flow } from '../hubble/flow.js';
import { layer7Of } from '../hubble/l7-flow.js';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);
const PROTOCOLS = new Set(['HTTP/1.0', 'HTTP/1.1', 'HTTP/2']);
/** prom-client's (and Prometheus client_golang's) default buckets, which Hubble's histogram uses. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** `method`: a standard method as is, anything else "other". */
export function httpMethodLabel(method: string): string {
  return METHODS.has(method) ? method : 'other';
}

/** `protocol`: HTTP/1.0, HTTP/1.1 or HTTP/2, else "other". */
export function httpProtocolLabel(protocol: string): string {
  return PROTOCOLS.has(protocol) ? protocol : 'other';
}

/** `status`: the code, 0..599 (0: none, e.g. a malformed exchange), else "other". */
export function httpStatusLabel(code: number): string {
  return Number.isInteger(code) && code >= 0 && code <= 599 ? String(code) : 'other';
}

/** `reporter`: server for ingress (the server's proxy), client for egress, else unknown. */
export function httpReporterLabel(flow: Flow): string {
  return flow.traffic_direction === 'INGRESS' ? 'server' : flow.traffic_direction === 'EGRESS' ? 'client' : 'unknown';
}

interface Inc { inc(): void }
interface Observe { observe(v: number): void }

export class HubbleHttpMetrics {
  private readonly requests: Counter<string>;
  private readonly responses: Counter<string>;
  private readonly duration: Histogram<string>;
  /** The prom-client children of each label set, by `method|protocol|status|reporter`. */
  private readonly series = new Map<string, { requests: Inc; responses: Inc; duration: Observe }>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({ name: 'hubble_http_requests_total', help: 'Count of HTTP requests', labelNames: ['method', 'protocol', 'status', 'reporter'], registers });
    this.responses = new Counter({ name: 'hubble_http_responses_total', help: 'Count of HTTP responses', labelNames: ['method', 'status', 'reporter'], registers });
    this.duration = new Histogram({
      name: 'hubble_http_request_duration_seconds', help: 'Quantiles of HTTP request duration in seconds',
      labelNames: ['method', 'reporter'], buckets: DURATION_BUCKETS, registers,
    });
  }

  /** Counts one flow (a listener of the flow pipeline); only HTTP responses count. Never throws for any flow shape. */
  observe(flow: Flow): void {
    if (flow.Type !== 'L7') return;
    const l7 = layer7Of(flow);
    if (!l7 || l7.type !== 'RESPONSE' || !l7.http) return;
    const method = httpMethodLabel(l7.http.method);
    const protocol = httpProtocolLabel(l7.http.protocol);
    const status = httpStatusLabel(l7.http.code);
    const reporter = httpReporterLabel(flow);
    // The key is made of label values, so the map is as bounded as the series.
    const key = `${method}|${protocol}|${status}|${reporter}`;
    let s = this.series.get(key);
    if (s === undefined) {
      s = {
        requests: this.requests.labels(method, protocol, status, reporter),
        responses: this.responses.labels(method, status, reporter),
        duration: this.duration.labels(method, reporter),
      };
      this.series.set(key, s);
    }
    s.requests.inc();
    s.responses.inc();
    s.duration.observe((l7.latency_ns ?? 0) / 1e9);
  }
}
