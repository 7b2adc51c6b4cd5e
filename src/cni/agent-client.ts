/**
 * The plugin's client of the agent's REST API: the calls CNI makes, over
 * the agent's unix socket, speaking HTTP/1.1 on a plain node:net socket.
 *
 * Why not AgentClient (src/api/client.ts): the plugin is a fresh process
 * on every pod's start-up path, and node:http costs a fresh process about
 * 10 ms to load and warm up (measured on the first request: 16 ms through
 * node:http, 6 ms through node:net). The contract is AgentClient's: a
 * MembraneError with code EAGENT and a `cause` when the agent cannot be
 * reached or its answer is cut off (isAgentUnreachable), otherwise the
 * code, message and path the agent answered with.
 *
 * One request per connection (`Connection: close`): the answer ends where
 * the stream ends, and the plugin makes two or three calls at most.
 */
import { createConnection } from 'node:net';
import type { ApiErrorBody, CniGcRequest, CniGcResponse, EndpointChangeRequest, EndpointModel, IpamResponse } from '../api/types.js';
import { MembraneError } from '../common/errors.js';

/** An HTTP/1.1 answer as read off the socket. */
export interface RawAnswer {
  status: number;
  body: string;
}

/**
 * Parses a complete HTTP/1.1 response (the whole stream of a `Connection:
 * close` exchange): status line, headers, then a body of Content-Length
 * bytes, chunked, or up to the end. Pure. Throws (a plain Error) when the
 * response is cut off or is not HTTP.
 */
export function parseHttpResponse(raw: Buffer): RawAnswer {
  const headEnd = raw.indexOf('\r\n\r\n');
  if (headEnd < 0) throw new Error(`the answer ended inside its headers (${raw.length} bytes)`);
  const [statusLine = '', ...headerLines] = raw.subarray(0, headEnd).toString('latin1').split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!status) throw new Error(`not an HTTP answer: ${JSON.stringify(statusLine.slice(0, 80))}`);
  const headers = new Map(headerLines.map((l) => {
    const colon = l.indexOf(':');
    return [l.slice(0, colon).trim().toLowerCase(), l.slice(colon + 1).trim()] as const;
  }));
  let body = raw.subarray(headEnd + 4);
  if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) body = dechunk(body);
  else if (headers.has('content-length')) {
    const length = Number(headers.get('content-length'));
    if (!(length <= body.length)) throw new Error(`the answer ended after ${body.length} of its ${length} body bytes`);
    body = body.subarray(0, length);
  }
  return { status: Number(status[1]), body: body.toString('utf8') };
}

function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) throw new Error('the answer ended inside a chunk header');
    const size = parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
    if (!Number.isInteger(size) || size < 0) throw new Error('the answer has a malformed chunk header');
    if (size === 0) return Buffer.concat(parts);
    const start = lineEnd + 2;
    if (start + size > data.length) throw new Error('the answer ended inside a chunk');
    parts.push(data.subarray(start, start + size));
    at = start + size + 2;
  }
}

/**
 * The agent calls the CNI commands make. CniAgentClient makes them over the
 * agent's socket; inside the agent (POST /v1/cni, src/api/cni-route.ts) an
 * in-process implementation makes them directly, with the same answers and
 * errors as the wire would give.
 */
export interface CniAgentApi {
  healthz(): Promise<{ ok: boolean }>;
  allocateIp(owner: string): Promise<IpamResponse>;
  releaseIp(ip: string): Promise<void>;
  putEndpoint(req: EndpointChangeRequest): Promise<EndpointModel>;
  getEndpointByAttachment(containerId: string, ifName: string): Promise<EndpointModel>;
  deleteEndpointByAttachment(containerId: string, ifName: string): Promise<void>;
  cniGc(req: CniGcRequest): Promise<CniGcResponse>;
}

export class CniAgentClient implements CniAgentApi {
  constructor(readonly socketPath: string, private readonly timeoutMs = 120_000) {}

  /** One call; resolves with the parsed JSON body (undefined when empty). Throws as the file's doc says. */
  request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? '' : JSON.stringify(body);
    const head = `${method} ${path} HTTP/1.1\r\nHost: membrane-agent\r\nConnection: close\r\n` +
      (body === undefined ? '' : `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n`) + '\r\n';
    return new Promise<RawAnswer>((resolve, reject) => {
      const socket = createConnection(this.socketPath);
      const chunks: Buffer[] = [];
      const unreachable = (cause: NodeJS.ErrnoException): MembraneError =>
        new MembraneError('EAGENT', `unable to reach the membrane agent at ${this.socketPath}: ${cause.message}` +
          (cause.code === 'ENOENT' || cause.code === 'ECONNREFUSED' ? ' (is the agent running?)' : ''), { cause });
      socket.setTimeout(this.timeoutMs, () => socket.destroy(new Error(`timed out after ${this.timeoutMs} ms`)));
      socket.on('connect', () => socket.write(head + payload));
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('error', (cause) => reject(unreachable(cause)));
      socket.on('end', () => {
        try {
          resolve(parseHttpResponse(Buffer.concat(chunks)));
        } catch (cause) {
          reject(new MembraneError('EAGENT', `reading the agent's answer to ${method} ${path} failed: ${(cause as Error).message}`, { cause }));
        }
      });
    }).then(({ status, body: text }) => {
      if (status >= 200 && status < 300) return (text ? JSON.parse(text) : undefined) as T;
      let e: ApiErrorBody['error'] | undefined;
      try {
        e = (JSON.parse(text) as ApiErrorBody).error;
      } catch {
        e = undefined;
      }
      throw new MembraneError(
        (e?.code as MembraneError['code']) ?? 'EAGENT',
        e?.message ?? `agent answered ${method} ${path} with HTTP ${status}: ${text.slice(0, 200)}`,
        e?.path !== undefined ? { path: e.path } : {},
      );
    });
  }

  healthz(): Promise<{ ok: boolean }> { return this.request('GET', '/v1/healthz'); }
  allocateIp(owner: string): Promise<IpamResponse> { return this.request('POST', '/v1/ipam', { owner }); }
  releaseIp(ip: string): Promise<void> { return this.request('DELETE', `/v1/ipam/${encodeURIComponent(ip)}`); }
  putEndpoint(req: EndpointChangeRequest): Promise<EndpointModel> { return this.request('PUT', '/v1/endpoints', req); }
  getEndpointByAttachment(containerId: string, ifName: string): Promise<EndpointModel> {
    return this.request('GET', attachmentPath(containerId, ifName));
  }
  deleteEndpointByAttachment(containerId: string, ifName: string): Promise<void> {
    return this.request('DELETE', attachmentPath(containerId, ifName));
  }
  cniGc(req: CniGcRequest): Promise<CniGcResponse> { return this.request('POST', '/v1/cni/gc', req); }
}

const attachmentPath = (containerId: string, ifName: string): string =>
  `/v1/endpoints/cni/${encodeURIComponent(containerId)}/${encodeURIComponent(ifName)}`;
