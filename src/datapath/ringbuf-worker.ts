/**
 * Worker thread body of EventStream: polls the ring buffer and posts
 * batches, dropping (and counting) a batch when the main thread's queue is
 * full rather than letting it grow (see EventStream).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FLUSH, QUEUED, RingBuf, STOP } from './ringbuf.js';

const { mapFd, recordSize, control, dropped, maxQueuedRecords } = workerData as {
  mapFd: number; recordSize: number; control: Int32Array; dropped: BigInt64Array; maxQueuedRecords: number;
};
const rb = new RingBuf(mapFd, recordSize);
let flushed = 0;
while (Atomics.load(control, STOP) === 0) {
  // A flush asked before this round is answered after it: every record the
  // kernel had written when it was asked is then posted ahead of the answer.
  const flushAsked = Atomics.load(control, FLUSH);
  // The datapath wakes readers only when events pile up; the timed poll and
  // the consume after it pick up the rest within 50 ms.
  const { batch, count } = rb.pollBatch(50);
  postBatch(batch, count);
  if (flushAsked !== flushed) {
    flushed = flushAsked;
    parentPort!.postMessage({ flushed });
  }
}
rb.free();
process.exit(0);

function postBatch(batch: Uint8Array, count: number): void {
  if (count === 0) return;
  if (Atomics.load(control, QUEUED) + count > maxQueuedRecords) {
    Atomics.add(dropped, 0, BigInt(count));
    return;
  }
  Atomics.add(control, QUEUED, count);
  // The batch owns its whole buffer (pollBatch starts a new one each time): hand the buffer over, no copy;
  // the reader reads its first `count` records.
  const buffer = batch.buffer as ArrayBuffer;
  parentPort!.postMessage({ batch: buffer, count }, [buffer]);
}
