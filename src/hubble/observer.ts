/**
 * The flow pipeline of one node: datapath event records in, decoded and
 * enriched into flows, kept in the recent-flow ring for readers. The
 * enrichment context comes from the agent at each batch, so flows name the
 * pods and policies as they are when the event is read.
 */
import { flowEvent } from '../datapath/layout.js';
import { type Flow, type FlowContext, flowsFromEvent } from './flow.js';
import { FlowRing } from './ring.js';

export class FlowObserver {
  readonly ring: FlowRing;
  /** Called with every flow as it enters the ring (metrics); a listener that throws is not the pipeline's problem. */
  readonly flowListeners: ((flow: Flow) => void)[] = [];
  private received = 0;

  constructor(capacity: number, private readonly context: () => FlowContext) {
    this.ring = new FlowRing(capacity);
  }

  /** Events decoded since start. */
  get eventsReceived(): number {
    return this.received;
  }

  /** A batch of fixed-size event records, as the ring buffer reader hands them over. */
  onRecords(batch: Buffer, count: number): void {
    const ctx = this.context();
    for (let i = 0; i < count; i++) {
      this.received++;
      for (const f of flowsFromEvent(flowEvent.decode(batch, i * flowEvent.size), ctx)) {
        this.ring.push(f);
        for (const listener of this.flowListeners) {
          try {
            listener(f);
          } catch {
            // a listener's bug must not stall or break the pipeline
          }
        }
      }
    }
  }
}
