/**
 * Worker thread body of EventStream: polls the ring buffer and posts
 * batches, dropping (and counting) a batch when the main thread's queue is
 * full rather than letting it grow (see EventStream).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { QUEUED, RingBuf, STOP } from './ringbuf.js';

const { mapFd, recordSize, control, dropped, maxQueuedRecords } = workerData as {
  mapFd: number; recordSize: number; control: Int32Array; dropped: BigInt64Array; maxQueuedRecords: number;
};
const rb = new RingBuf(mapFd);
while (Atomics.load(control, STOP) === 0) {
  // The datapath wakes readers only when events pile up; the timed poll and
  // the consume after it pick up the rest within 50 ms.
  const records = [...rb.poll(50), ...rb.consume()];
  if (records.length === 0) continue;
  if (Atomics.load(control, QUEUED) + records.length > maxQueuedRecords) {
    Atomics.add(dropped, 0, BigInt(records.length));
    continue;
  }
  const batch = new Uint8Array(records.length * recordSize);
  let off = 0;
  for (const r of records) {
    batch.set(r.subarray(0, recordSize), off);
    off += recordSize;
  }
  Atomics.add(control, QUEUED, records.length);
  parentPort!.postMessage({ batch: batch.buffer, count: records.length }, [batch.buffer]);
}
rb.free();
process.exit(0);
