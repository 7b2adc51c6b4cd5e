/**
 * `membrane policy trace`: asks the agent which verdict one packet gets and
 * why, and prints it as Cilium's `policy trace` did: both identities with
 * their labels, then each direction's verdict with the rule (or the default
 * deny) behind it, then the final verdict. It answers a question, so it exits
 * 0 for "denied" too; bad flags exit 2.
 */
import net from 'node:net';
import { CommanderError, type Command } from 'commander';
import type { AgentClient } from '../api/client.js';
import type { PeerSpec, PolicyTracePeer, PolicyTraceRequest, PolicyTraceResponse, TraceVerdict } from '../api/types.js';
import { MembraneError, ValidationError } from '../common/errors.js';
import { validateTraceRequest } from '../agent/trace-request.js';
import { reasonDescription } from '../datapath/reasons.js';
import { formatRef } from '../policy/repository.js';

/** Parses a --from/--to value: `NS/POD`, an IPv4 address, or labels `k=v,k2=v2` (or one `reserved:NAME`). */
export function parsePeerFlag(text: string, flag: string): PeerSpec {
  if (net.isIPv4(text)) return { ip: text };
  if (text.includes('=') || text.startsWith('reserved:')) return { labels: text.split(',').map((l) => l.trim()).filter((l) => l !== '') };
  const parts = text.split('/');
  if (parts.length === 2 && parts[0] && parts[1]) return { pod: { namespace: parts[0], name: parts[1] } };
  throw new ValidationError(flag, `"${text}" is not NS/POD, an IPv4 address, or labels like app=web,k8s:tier=db`);
}

/** Parses --port: `80/tcp`, `53/udp`, `8/icmp` (the ICMP type), or `80` for TCP. */
export function parsePortFlag(text: string): { port: number; protocol: string } {
  const m = /^(\d+)(?:\/([a-zA-Z]+))?$/.exec(text.trim());
  if (!m) throw new ValidationError('--port', `"${text}" is not PORT/PROTOCOL like 80/tcp, 53/udp or 8/icmp`);
  return { port: Number(m[1]), protocol: (m[2] ?? 'tcp').toUpperCase() };
}

/** The request for the flags; throws ValidationError naming the flag (the agent's own checks, run before asking it). */
export function traceRequestFromFlags(flags: { from: string; to: string; port: string }): PolicyTraceRequest {
  const body = { from: parsePeerFlag(flags.from, '--from'), to: parsePeerFlag(flags.to, '--to'), ...parsePortFlag(flags.port) };
  try {
    return validateTraceRequest(body);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    const field = err.path ?? '';
    const flag = field.startsWith('from') ? '--from' : field.startsWith('to') ? '--to' : '--port';
    const detail = field && err.message.startsWith(`${field}: `) ? err.message.slice(field.length + 2) : err.message;
    throw new ValidationError(flag, detail, { cause: err });
  }
}

function describeSpec(spec: PeerSpec): string {
  if ('pod' in spec) return `${spec.pod.namespace}/${spec.pod.name}`;
  if ('ip' in spec) return spec.ip;
  return spec.labels.join(',');
}

function formatPeer(title: string, spec: PeerSpec, peer: PolicyTracePeer): string {
  const ep = peer.endpoint;
  const where = ep ? `endpoint ${ep.id}, ${ep.ipv4}` : 'ip' in spec ? 'not an endpoint of this node' : 'labels';
  const id = `identity ${peer.identity}${peer.unallocated ? ' (not allocated yet)' : ''}`;
  return `${title}: ${describeSpec(spec)} (${where}), ${id}\n${peer.labels.map((l) => `  ${l}\n`).join('')}`;
}

/** One direction's verdict as a sentence: `allowed (L3-L4, CiliumNetworkPolicy default/rule1 spec.egress[0])`. */
export function formatVerdict(v: TraceVerdict): string {
  const sentence = verdictSentence(v);
  return v.audited ? `${sentence}, audited: the packet passes (AUDIT)` : sentence;
}

function verdictSentence(v: TraceVerdict): string {
  const where = v.rule ? `${formatRef(v.rule)} ${v.rule.path}` : undefined;
  if (v.verdict === 'not enforced') return 'allowed (not enforced: no policy puts this direction into default deny)';
  if (v.verdict === 'allowed' && v.l7) {
    const rules = v.l7.http.map((r) => JSON.stringify(r)).join(', ');
    return `allowed at L3/L4 (${v.matchType}${where ? `, ${where}` : ''}), redirected to the L7 proxy (port ${v.l7.proxyPort}): ` +
      `an HTTP request passes if it matches one of ${rules}`;
  }
  if (v.verdict === 'allowed') return `allowed (${v.matchType}${where ? `, ${where}` : ''})`;
  if (v.dropReason === 181 || v.rule) return `denied by ${where ?? 'a deny rule'} (${v.dropReason ?? 181})`;
  const code = v.dropReason ?? 133;
  const by = v.defaultDenyBy?.length ? `; default deny set by ${v.defaultDenyBy.map(formatRef).join(', ')}` : '';
  return `denied (default deny: ${reasonDescription(code).toLowerCase()}, ${code}${by})`;
}

/** The text report of a trace. */
export function formatTrace(req: PolicyTraceRequest, res: PolicyTraceResponse): string {
  const direction = (name: string, v: TraceVerdict | undefined, side: string) =>
    `${name} verdict: ${v ? formatVerdict(v) : `not checked (the ${side} is not an endpoint of this node)`}\n`;
  return [
    formatPeer('From', req.from, res.from),
    formatPeer('To', req.to, res.to),
    `Port: ${req.port}/${req.protocol}\n\n`,
    direction('Egress', res.egress, 'source'),
    direction('Ingress', res.ingress, 'destination'),
    `Final verdict: ${res.verdict}\n`,
  ].join('');
}

/** Adds `trace` to the `policy` command. */
export function registerPolicyTraceCommand(policy: Command, client: () => Promise<AgentClient>): void {
  policy.command('trace')
    .description('explain the verdict for one packet: --from NS/POD|k=v,..|IP --to NS/POD|IP|k=v,.. --port 80/tcp')
    .requiredOption('--from <peer>', 'source: NS/POD, an IPv4 address, or pod labels app=x,k8s:tier=y')
    .requiredOption('--to <peer>', 'destination: NS/POD, an IPv4 address, or pod labels')
    .requiredOption('--port <port/proto>', 'destination port and protocol: 80/tcp, 53/udp, 8/icmp (ICMP type)')
    .option('-o, --output <fmt>', 'text or json', 'text')
    .exitOverride((err: CommanderError) => { throw err.exitCode === 0 ? err : new CommanderError(2, err.code, err.message); })
    .action(async (o: { from: string; to: string; port: string; output: string }) => {
      if (o.output !== 'text' && o.output !== 'json') throw new MembraneError('EINVAL', `--output: "${o.output}" is not text or json`);
      const req = traceRequestFromFlags(o);
      const res = await (await client()).tracePolicy(req);
      process.stdout.write(o.output === 'json' ? JSON.stringify(res, null, 2) + '\n' : formatTrace(req, res));
    });
}
