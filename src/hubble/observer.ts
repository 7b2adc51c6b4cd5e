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
 */
import { flowEvent } from '../datapath/layout.js';
import { decodeFlowEvent } from './decode.js';
import { type Flow, type FlowContext, flowsFromEvent } from './flow.js';
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

  /** A batch of fixed-size event records, as the ring buffer reader hands them over. */
  onRecords(batch: Buffer, count: number): void {
    const ctx = this.context();
    const listeners = this.flowListeners;
    for (let i = 0; i < count; i++) {
      this.received++;
      const flows = flowsFromEvent(decodeFlowEvent(batch, i * flowEvent.size), ctx);
      for (let j = 0; j < flows.length; j++) {
        const f = flows[j]!;
        this.ring.push(f);
        for (let k = 0; k < listeners.length; k++) {
          try {
            listeners[k]!(f);
          } catch {
            // a listener's bug must not stall or break the pipeline
          }
        }
      }
    }
  }
}
