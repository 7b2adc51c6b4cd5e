/**
 * Events lost on the way from the datapath to a reader, counted per source
 * with Hubble's names, so a loss is always visible (a metric, `status`)
 * and never hidden:
 *   - perf_event_ring_buffer: the kernel ring was full (the datapath counts);
 *   - observer_events_queue: the pipeline's input queue between the ring
 *     buffer reader and decoding was full, so the reader dropped the batch;
 *   - hubble_ring_buffer: flows a follower (REST or gRPC follow stream)
 *     missed because its client read slower than flows came.
 */

export const LOST_SOURCES = ['perf_event_ring_buffer', 'observer_events_queue', 'hubble_ring_buffer'] as const;
export type LostSource = (typeof LOST_SOURCES)[number];
export type LostCounts = Record<LostSource, number>;

/** Hubble's LostEventSource enum values (observer.proto), for lost_events messages. */
export const LOST_SOURCE_ENUM: Record<LostSource, number> = {
  perf_event_ring_buffer: 1, observer_events_queue: 2, hubble_ring_buffer: 3,
};
/** The enum names as Hubble's JSON output spells them. */
export const LOST_SOURCE_NAME: Record<LostSource, string> = {
  perf_event_ring_buffer: 'PERF_EVENT_RING_BUFFER', observer_events_queue: 'OBSERVER_EVENTS_QUEUE', hubble_ring_buffer: 'HUBBLE_RING_BUFFER',
};

/** The NDJSON line a follow stream emits after it skipped flows, as Hubble's JSON output shows lost events. */
export function lostEventsLine(source: LostSource, count: number): string {
  return `${JSON.stringify({ lost_events: { source: LOST_SOURCE_NAME[source], num_events_lost: count } })}\n`;
}

export function totalLost(c: LostCounts): number {
  return c.perf_event_ring_buffer + c.observer_events_queue + c.hubble_ring_buffer;
}
