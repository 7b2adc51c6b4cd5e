/**
 * The `observer.Observer` service handlers over one node's flow ring (and
 * its agent event log, for GetAgentEvents: agent-events.ts).
 *
 * Nothing unbounded: a follower whose client reads slower than flows come
 * is not buffered without limit. Once the transport pushes back, flows for
 * it are counted instead of queued, and the count is sent as a
 * `lost_events` message (source HUBBLE_RING_BUFFER, as Hubble reports a
 * reader that fell behind) when the client catches up.
 */
import * as grpc from '@grpc/grpc-js';
import { MembraneError, errorMessage } from '../../common/errors.js';
import type { Flow } from '../flow.js';
import type { FlowRing } from '../ring.js';
import type { AgentEventLog } from '../agent-events.js';
import { type GetAgentEventsRequest, serveGetAgentEvents } from './agent-events.js';
import { type ProtoFlowFilter, filtersFromProto } from './filter-from-proto.js';
import { flowToProto, timestampFromMs, timestampToMs } from './flow-to-proto.js';
import { type FlowSelection, flowSelected, pastUntil } from './select.js';
import { compileFlowFilters } from '../filter.js';
import { type FlowLogSource, replayFlows } from '../history.js';

/** What the service needs from the agent. */
export interface ObserverSource {
  readonly ring: FlowRing;
  /** The agent's events (GetAgentEvents). */
  readonly agentEvents: AgentEventLog;
  readonly nodeName: string;
  readonly version: string;
  /** Wall-clock ms the agent started at. */
  readonly startedAtMs: number;
  /** Namespaces known to the agent (from its Kubernetes metadata). */
  namespaces(): string[];
  /** Resolves once the datapath's events up to now are flows in the ring. */
  flushFlows?(): Promise<void>;
  /** The node's on-disk flow log, read when a request's `since` reaches back past the ring (src/hubble/history.ts). */
  readonly flowLog?: FlowLogSource | undefined;
}

export interface ObserverServiceOptions {
  /** The address clients reach this server at, for GetNodes. */
  address: string;
  clusterName?: string;
}

const LOST_SOURCE_HUBBLE_RING_BUFFER = 3;
const NODE_CONNECTED = 1;

interface GetFlowsRequest {
  number?: number; first?: boolean; follow?: boolean;
  whitelist?: ProtoFlowFilter[]; blacklist?: ProtoFlowFilter[];
  since?: { seconds?: number; nanos?: number } | null; until?: { seconds?: number; nanos?: number } | null;
}

/** A GetFlows request as a FlowSelection; throws ValidationError naming the bad field. */
export function selectionFromRequest(req: GetFlowsRequest): FlowSelection {
  const s: FlowSelection = {
    number: Number(req.number ?? 0), first: req.first ?? false, follow: req.follow ?? false,
  };
  if (s.first && s.follow) throw new MembraneError('EINVAL', 'first: cannot be combined with follow (as in Hubble)', { path: 'first' });
  const since = timestampToMs(req.since);
  const until = timestampToMs(req.until);
  if (since !== undefined) s.sinceMs = since;
  if (until !== undefined) s.untilMs = until;
  const whitelist = filtersFromProto(req.whitelist, 'whitelist');
  const blacklist = filtersFromProto(req.blacklist, 'blacklist');
  if (whitelist) s.whitelist = whitelist;
  if (blacklist) s.blacklist = blacklist;
  return s;
}

function statusOf(err: unknown): Partial<grpc.StatusObject> {
  const invalid = err instanceof MembraneError && err.code === 'EINVAL';
  return { code: invalid ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL, details: errorMessage(err) };
}

export class ObserverService {
  /** Unfollow functions of open follow streams, so close() detaches them all. */
  private readonly followers = new Set<() => void>();

  constructor(private readonly source: ObserverSource, private readonly opts: ObserverServiceOptions) {}

  /** The handlers, for grpc.Server.addService. */
  handlers(): grpc.UntypedServiceImplementation {
    return {
      GetFlows: (call: grpc.ServerWritableStream<GetFlowsRequest, unknown>) => this.getFlows(call),
      ServerStatus: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, this.serverStatus()),
      GetNodes: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, this.nodes()),
      GetNamespaces: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, this.namespaces()),
      GetAgentEvents: (call: grpc.ServerWritableStream<GetAgentEventsRequest, unknown>) => serveGetAgentEvents(call, this.source.agentEvents, this.followers),
    };
  }

  /** Ends every follow stream's subscription (the server's shutdown cancels the calls). */
  close(): void {
    for (const stop of this.followers) stop();
    this.followers.clear();
  }

  serverStatus() {
    const ring = this.source.ring;
    return {
      num_flows: ring.size, max_flows: ring.capacity, seen_flows: ring.seen,
      uptime_ns: this.uptimeNs(), version: this.version(),
    };
  }

  nodes() {
    const ring = this.source.ring;
    return {
      nodes: [{
        name: this.source.nodeName, version: this.version(), address: this.opts.address, state: NODE_CONNECTED,
        tls: { enabled: false }, uptime_ns: this.uptimeNs(), num_flows: ring.size, max_flows: ring.capacity, seen_flows: ring.seen,
      }],
    };
  }

  namespaces() {
    return { namespaces: this.source.namespaces().map((namespace) => ({ cluster: this.opts.clusterName ?? '', namespace })) };
  }

  private version(): string {
    return `membrane ${this.source.version}`;
  }

  private uptimeNs(): number {
    return Math.max(0, Date.now() - this.source.startedAtMs) * 1e6;
  }

  private response(payload: Record<string, unknown>, timeMs: number) {
    return { ...payload, node_name: this.source.nodeName, time: timestampFromMs(timeMs) };
  }

  private getFlows(call: grpc.ServerWritableStream<GetFlowsRequest, unknown>): void {
    let sel: FlowSelection;
    try {
      sel = selectionFromRequest(call.request);
    } catch (err) {
      call.emit('error', statusOf(err));
      return;
    }
    // The datapath's events up to now first: a client asking right after some traffic sees its flows.
    const flushed = this.source.flushFlows?.() ?? Promise.resolve();
    flushed.then(() => this.streamFlows(call, sel), (err: unknown) => call.emit('error', statusOf(err)));
  }

  private async streamFlows(call: grpc.ServerWritableStream<GetFlowsRequest, unknown>, sel: FlowSelection): Promise<void> {
    if (call.cancelled) return;
    const send = (f: Flow) => call.write(this.response({ flow: flowToProto(f) }, Date.parse(f.time)));
    // The flow log first when `since` reaches back past the ring, then the ring (one implementation with REST).
    const replay = replayFlows({ ring: this.source.ring, flowLog: this.source.flowLog }, sel);
    try {
      for await (const f of replay) {
        if (call.cancelled) break;
        if (!send(f)) await drainedOrCancelled(call);
      }
    } catch (err) {
      replay.close();
      if (!call.cancelled) call.emit('error', statusOf(err));
      return;
    }
    if (call.cancelled) {
      replay.close();
      return;
    }
    if (!sel.follow) {
      call.end();
      return;
    }

    let blocked = false;
    let lost = 0;
    let done = false;
    let unfollow = () => {};
    const finish = () => {
      if (done) return;
      done = true;
      unfollow();
      this.followers.delete(finish);
    };
    const passes = compileFlowFilters(sel.whitelist, sel.blacklist);
    const onFlow = (f: Flow) => {
      if (done) return;
      if (pastUntil(f, sel)) {
        finish();
        call.end();
        return;
      }
      if (!flowSelected(f, sel, passes)) return;
      if (blocked) {
        lost++;
        this.source.ring.countFollowerLoss(1);
        return;
      }
      if (!send(f)) blocked = true;
    };
    // The flows that came while the replay was read, then the ring itself, in the same tick: no gap.
    const held = replay.takeHeld();
    lost += held.lost;
    for (const f of held.flows) onFlow(f);
    if (done) return;
    unfollow = this.source.ring.follow(onFlow);
    if (lost > 0 && !blocked) {
      call.write(this.response({ lost_events: { source: LOST_SOURCE_HUBBLE_RING_BUFFER, num_events_lost: lost } }, Date.now()));
      lost = 0;
    }
    call.on('drain', () => {
      blocked = false;
      if (lost > 0 && !done) {
        call.write(this.response({ lost_events: { source: LOST_SOURCE_HUBBLE_RING_BUFFER, num_events_lost: lost } }, Date.now()));
        lost = 0;
      }
    });
    this.followers.add(finish);
    call.on('cancelled', finish);
    call.on('close', finish);
    call.on('error', finish);
  }
}

/** Resolves once the call drains or ends (a client gone away never drains). */
function drainedOrCancelled(call: grpc.ServerWritableStream<GetFlowsRequest, unknown>): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off('drain', done);
      call.off('cancelled', done);
      call.off('close', done);
      resolve();
    };
    call.on('drain', done);
    call.on('cancelled', done);
    call.on('close', done);
  });
}
