/** Worker thread body of EventStream: polls the ring buffer and posts batches. */
import { parentPort, workerData } from 'node:worker_threads';
import { RingBuf } from './ringbuf.js';

const { mapFd, recordSize, stopFlag } = workerData as { mapFd: number; recordSize: number; stopFlag: Int32Array };
const rb = new RingBuf(mapFd);
while (Atomics.load(stopFlag, 0) === 0) {
  // The datapath wakes readers only when events pile up; the timed poll and
  // the consume after it pick up the rest within 50 ms.
  const records = [...rb.poll(50), ...rb.consume()];
  if (records.length === 0) continue;
  const batch = new Uint8Array(records.length * recordSize);
  let off = 0;
  for (const r of records) {
    batch.set(r.subarray(0, recordSize), off);
    off += recordSize;
  }
  parentPort!.postMessage({ batch: batch.buffer, count: records.length }, [batch.buffer]);
}
rb.free();
process.exit(0);
