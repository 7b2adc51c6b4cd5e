/**
 * The flow pipeline of one node: datapath event records in, decoded and
 * enriched into flows, kept in the recent-flow ring for readers. The
 * enrichment context comes from the agent at each batch, so flows name the
 * pods and policies as they are when the event is read.
 *
 * Nothing here waits on a reader: followers get flows synchronously and
 * must skip (and count) what they cannot send, and the input queue in
 * front of the pipeline (EventStream's, between the ring buffer reader
 * thread and this one) is bounded and counts what it drops. The counts of
 * every source are read through `lostEvents()`.
 *
 * Flows are built by FlowBuilder (the fast path, equal to flowsFromEvent):
 * flows share their enrichment objects, so listeners and followers must
 * treat every flow as read-only.
 */
import { flowEvent } from '../datapath/layout.js';
import { type Flow, type FlowContext } from './flow.js';
import { FlowBuilder } from './flow-builder.js';
import { type LostCounts } from './lost.js';
import { FlowRing } from './ring.js';

/** Readers of the loss counters kept outside the pipeline (the kernel's, the input queue's); absent reads 0. */
export interface LostCounters {
  perfEventRingBuffer?: () => number;
  observerEventsQueue?: () => number;
}

export class FlowObserver {
  readonly ring: FlowRing;
  /** Called with every flow as it enters the ring (metrics); a listener that throws is not the pipeline's problem. */
  readonly flowListeners: ((flow: Flow) => void)[] = [];
  /** Set by the agent once the datapath and the event reader exist. */
  readonly lostCounters: LostCounters = {};
  private received = 0;
  private readonly builder = new FlowBuilder();
  /** Each flow into the ring, then to every listener. */
  private readonly emit = (f: Flow): void => {
    this.ring.push(f);
    const listeners = this.flowListeners;
    for (let k = 0; k < listeners.length; k++) {
      try {
        listeners[k]!(f);
      } catch {
        // a listener's bug must not stall or break the pipeline
      }
    }
  };

  constructor(capacity: number, private readonly context: () => FlowContext) {
    this.ring = new FlowRing(capacity);
  }

  /** Events decoded since start. */
  get eventsReceived(): number {
    return this.received;
  }

  /** Events (kernel, queue) and flows (followers) lost so far, per source. */
  lostEvents(): LostCounts {
    return {
      perf_event_ring_buffer: this.lostCounters.perfEventRingBuffer?.() ?? 0,
      observer_events_queue: this.lostCounters.observerEventsQueue?.() ?? 0,
      hubble_ring_buffer: this.ring.lostToFollowers,
    };
  }

  /** A flow made outside the datapath's events (the L7 proxy's), into the ring, to listeners and followers like any other. */
  pushFlow(flow: Flow): void {
    this.emit(flow);
  }

  /** A batch of fixed-size event records, as the ring buffer reader hands them over. */
  onRecords(batch: Buffer, count: number): void {
    this.builder.begin(this.context());
    const size = flowEvent.size;
    for (let i = 0; i < count; i++) {
      this.received++;
      this.builder.build(batch, i * size, this.emit);
    }
  }
}
