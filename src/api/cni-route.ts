/**
 * POST /v1/cni: runs one CNI invocation inside the agent, for the compiled
 * shim (src/cni/shim/membrane-cni-shim.c) that `bin/membrane-cni` executes,
 * so a pod's ADD does not pay for a Node process. The invocation is the
 * plugin's own (src/cni/run.ts: same parsing, commands, rollback, errors and
 * log file); only its agent calls are made in-process instead of over the
 * socket, with the answers and errors the wire would give.
 *
 *   request:  {"env": {"CNI_COMMAND": "ADD", ...}, "stdin": "<network configuration>"}
 *   answer:   200, body = the plugin's stdout verbatim, header
 *             `membrane-cni-exit-code` = the plugin's exit code
 *
 * A configuration whose agentSocket names another agent's socket is served
 * by calling that agent over its socket, as the plugin process would.
 */
import type http from 'node:http';
import path from 'node:path';
import type { Agent } from '../agent/agent.js';
import { MembraneError, errorMessage } from '../common/errors.js';
import { CniAgentClient, type CniAgentApi } from '../cni/agent-client.js';
import { runInvocation, type InvocationOutput } from '../cni/run.js';

export const CNI_EXIT_CODE_HEADER = 'membrane-cni-exit-code';

/** The agent operations the CNI commands use (Agent has them all). */
export type CniAgentOps = Pick<Agent, 'allocateIp' | 'releaseIp' | 'putEndpoint' | 'getEndpointByAttachment' | 'deleteEndpointByAttachment' | 'cniGc'>;

export interface CniRequest {
  env: Record<string, string>;
  stdin: string;
}

/** Validates a POST /v1/cni body; EINVAL naming the field (`env.CNI_COMMAND`, `stdin`) otherwise. Pure. */
export function parseCniRequest(body: unknown): CniRequest {
  const bad = (field: string, msg: string): never => {
    throw new MembraneError('EINVAL', `POST /v1/cni: ${field}: ${msg}`, { path: field });
  };
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return bad('(body)', 'must be a JSON object {"env": {...}, "stdin": "..."}');
  const { env, stdin } = body as Record<string, unknown>;
  if (typeof env !== 'object' || env === null || Array.isArray(env)) return bad('env', 'must be an object of the CNI_* variables as strings');
  for (const [k, v] of Object.entries(env)) {
    if (!k.startsWith('CNI_')) bad(`env.${k}`, 'only CNI_* variables are accepted');
    if (typeof v !== 'string') bad(`env.${k}`, `must be a string, got ${JSON.stringify(v)}`);
  }
  if (typeof stdin !== 'string') return bad('stdin', 'must be the network configuration as a string');
  return { env: env as Record<string, string>, stdin };
}

/** An agent call made in-process, answered (value and error) as CniAgentClient would have read it off the socket. */
async function asOverTheWire<T>(call: () => T | Promise<T>): Promise<T> {
  let value: T;
  try {
    value = await call();
  } catch (err) {
    // The API server turns a foreign error into EKERNEL; the client keeps code, message and path, never a cause.
    const e = err instanceof MembraneError ? err : new MembraneError('EKERNEL', errorMessage(err));
    throw new MembraneError(e.code, e.message, e.path !== undefined ? { path: e.path } : {});
  }
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

export function inProcessCniAgent(agent: CniAgentOps): CniAgentApi {
  return {
    healthz: () => Promise.resolve({ ok: true }),
    allocateIp: (owner) => asOverTheWire(() => agent.allocateIp(owner)),
    releaseIp: async (ip) => { await asOverTheWire(() => agent.releaseIp(ip)); },
    putEndpoint: (req) => asOverTheWire(() => agent.putEndpoint(structuredClone(req))),
    getEndpointByAttachment: (c, i) => asOverTheWire(() => agent.getEndpointByAttachment(c, i)),
    deleteEndpointByAttachment: async (c, i) => { await asOverTheWire(() => agent.deleteEndpointByAttachment(c, i)); },
    cniGc: (req) => asOverTheWire(() => agent.cniGc(structuredClone(req))),
  };
}

/** Runs the invocation; the agent answers itself in-process when the configuration names its own socket. */
export function runCniInAgent(agent: CniAgentOps, ownSocket: string, req: CniRequest): Promise<InvocationOutput> {
  const own = path.resolve(ownSocket);
  const local = inProcessCniAgent(agent);
  return runInvocation({
    env: req.env,
    stdin: () => Promise.resolve(req.stdin),
    connectAgent: (socket, timeoutMs) => (path.resolve(socket) === own ? local : new CniAgentClient(socket, timeoutMs)),
    servedBy: 'agent',
  });
}

export function writeCniAnswer(res: http.ServerResponse, out: InvocationOutput): void {
  res.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(out.stdout),
    [CNI_EXIT_CODE_HEADER]: String(out.exitCode),
  });
  res.end(out.stdout);
}
