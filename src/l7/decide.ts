/**
 * One request's decision across both sides of a proxied connection. A
 * connection is redirected once, at the side whose entry has HTTP rules
 * (the client's egress, else the server's ingress); the proxy's upstream
 * is never redirected again (bpf/lib/proxy.h). So a request redirected at
 * egress to a server on this node with HTTP rules of its own must pass
 * those too, on the request as the egress rules' header actions left it,
 * as it would through a proxy on each side. Pure.
 */
import { applyHeaderActions, type HttpRequestView, type HttpVerdict } from './http-rules.js';

/** One side's verdict on a request; undefined when that side has no HTTP rules for the connection. */
export type SideDecision = (egress: boolean, req: HttpRequestView) => HttpVerdict | undefined;

const DENIED: HttpVerdict = { allowed: false, actions: [] };

export function decideRequest(req: HttpRequestView, egress: boolean, side: SideDecision): HttpVerdict {
  const own = side(egress, req);
  if (!own?.allowed || !egress) return own ?? DENIED;
  const seen = own.actions.length ? { ...req, headers: applyHeaderActions(req.headers, own.actions) } : req;
  // The server's rules decide on the Host it will get. The egress rules' actions may have changed the Host
  // header, which is what an origin-form request is forwarded with (an absolute-form one keeps its authority,
  // `req.host`): both must pass, and actions that leave several Host headers are refused.
  const views = [seen];
  if (own.actions.some((a) => a.name.toLowerCase() === 'host')) {
    const hosts = seen.headers.filter(([name]) => name.toLowerCase() === 'host').map(([, value]) => value);
    if (hosts.length > 1) return { ...DENIED, policyDirection: 'INGRESS' };
    if (hosts.length === 1 && hosts[0] !== req.host) views.push({ ...seen, host: hosts[0]! });
  }
  let actions = own.actions;
  for (const view of views) {
    const theirs = side(false, view);
    if (!theirs) return own;
    if (!theirs.allowed) return { ...theirs, policyDirection: 'INGRESS' };
    if (view === seen) actions = [...own.actions, ...theirs.actions];
  }
  return { ...own, actions };
}
