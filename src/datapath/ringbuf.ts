/**
 * Reading the datapath's events ring buffer. `RingBuf` is the synchronous
 * primitive (libbpf ring_buffer over koffi); `EventStream` runs it in a
 * worker thread so a burst of events never blocks the agent's event loop,
 * and hands records over in batches.
 */
import { Worker } from 'node:worker_threads';
import koffi from 'koffi';
import { MembraneError } from '../common/errors.js';
import { flowEvent } from './layout.js';
import { RingBufferSampleFn, checkPtr, native } from './libbpf.js';

/**
 * A reader of the events ring buffer. Records are fixed-size (`recordSize`
 * bytes; longer ones are cut, shorter ones zero-padded) and copied into one
 * batch buffer per read, never one allocation per record: at a hundred
 * thousand events a second, a small native allocation per record costs
 * more than the copy and leaves the allocator fragmented.
 */
export class RingBuf {
  private readonly rb: unknown;
  private readonly cb: unknown;
  private batch: Uint8Array;
  private count = 0;

  /** `mapFd`: a BPF_MAP_TYPE_RINGBUF map fd (shared by every thread of the process). */
  constructor(mapFd: number, readonly recordSize = flowEvent.size) {
    this.batch = new Uint8Array(recordSize * INITIAL_BATCH_RECORDS);
    // Copied out by koffi.decode into a small typed array of the JS heap: a koffi.view per record would be an
    // external buffer each, whose native bookkeeping outlives it until a garbage collection the small JS heap
    // rarely needs (measured: the reader's RSS grew by ~200 bytes per event without bound).
    const recordType = koffi.array('uint8_t', recordSize, 'Typed');
    this.cb = koffi.register((_ctx: unknown, data: unknown, size: number) => {
      const record = koffi.decode(data, recordType) as Uint8Array;
      this.append(Number(size) < recordSize ? record.subarray(0, Number(size)) : record);
      return 0;
    }, koffi.pointer(RingBufferSampleFn));
    this.rb = checkPtr(native.ringBufferNew(mapFd, this.cb, null, null), 'opening the events ring buffer');
  }

  private append(record: Uint8Array): void {
    const off = this.count * this.recordSize;
    if (off + this.recordSize > this.batch.length) {
      const bigger = new Uint8Array(this.batch.length * 2);
      bigger.set(this.batch.subarray(0, off));
      this.batch = bigger;
    }
    this.batch.set(record, off);
    if (record.length < this.recordSize) this.batch.fill(0, off + record.length, off + this.recordSize);
    this.count++;
  }

  /** Takes every record available now, without waiting. */
  consume(): Buffer[] {
    this.read(() => native.ringBufferConsume(this.rb), 'reading');
    return this.records();
  }

  /** Waits up to `timeoutMs` for records, then takes what arrived. */
  poll(timeoutMs: number): Buffer[] {
    this.read(() => native.ringBufferPoll(this.rb, timeoutMs), 'polling');
    return this.records();
  }

  /**
   * Waits up to `timeoutMs` for records, takes those and every other one
   * available, and hands them over as one buffer of exactly `count` records
   * (a copy: the reader keeps its own batch buffer for the next round).
   */
  pollBatch(timeoutMs: number): { batch: Uint8Array; count: number } {
    this.read(() => native.ringBufferPoll(this.rb, timeoutMs), 'polling');
    this.read(() => native.ringBufferConsume(this.rb), 'reading');
    const out = { batch: this.batch.slice(0, this.count * this.recordSize), count: this.count };
    this.count = 0;
    return out;
  }

  private read(call: () => number, what: string): void {
    const ret = call();
    if (ret < 0 && ret !== -4 /* EINTR */) throw new MembraneError('EKERNEL', `${what} the events ring buffer: errno ${-ret}`);
  }

  private records(): Buffer[] {
    const buf = Buffer.from(this.batch.buffer, 0, this.count * this.recordSize);
    const out: Buffer[] = [];
    for (let i = 0; i < this.count; i++) out.push(buf.subarray(i * this.recordSize, (i + 1) * this.recordSize));
    this.batch = new Uint8Array(this.batch.length);
    this.count = 0;
    return out;
  }

  free(): void {
    native.ringBufferFree(this.rb);
    koffi.unregister(this.cb as never);
  }
}

const WORKER_YOUNG_GENERATION_MB = 8;
/** Records a batch holds before it grows (doubling). */
const INITIAL_BATCH_RECORDS = 1024;

/**
 * Streams ring buffer records from a worker thread. `onRecords` gets each
 * batch (records are fixed-size, concatenated in one buffer).
 *
 * The batches posted but not yet handled are the pipeline's input queue
 * (Hubble's observer events queue). It is bounded: when it holds
 * `maxQueuedRecords`, the worker keeps draining the kernel ring but drops
 * the batch and counts it (`droppedRecords`), so a slow pipeline costs
 * events that are counted, never memory without bound.
 */
export class EventStream {
  private readonly worker: Worker;
  /** [STOP] stop flag, [QUEUED] records posted and not yet handled (the queue), [FLUSH] the last flush asked. */
  private readonly control = new Int32Array(new SharedArrayBuffer(12));
  private flushAsked = 0;
  private readonly flushWaiters: { seq: number; resolve: () => void }[] = [];
  /** [0] records the worker dropped because the queue was full. */
  private readonly dropped = new BigInt64Array(new SharedArrayBuffer(8));

  constructor(mapFd: number, recordSize: number, onRecords: (batch: Buffer, count: number) => void, onError: (err: Error) => void,
    maxQueuedRecords = DEFAULT_MAX_QUEUED_RECORDS) {
    this.worker = new Worker(new URL('./ringbuf-worker.js', import.meta.url), {
      workerData: { mapFd, recordSize, control: this.control, dropped: this.dropped, maxQueuedRecords },
      // The reader's garbage is tiny and short-lived: a small young generation, whatever the process's flags.
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
    });
    this.worker.on('message', (msg: { batch: ArrayBuffer; count: number } | { flushed: number }) => {
      if ('flushed' in msg) {
        this.flushDone(msg.flushed);
        return;
      }
      try {
        onRecords(Buffer.from(msg.batch), msg.count);
      } finally {
        Atomics.sub(this.control, QUEUED, msg.count);
      }
    });
    this.worker.on('error', onError);
    this.worker.unref();
  }

  /** Records dropped because the pipeline's input queue was full (Hubble's observer_events_queue lost events). */
  get droppedRecords(): number {
    return Number(Atomics.load(this.dropped, 0));
  }

  /** Records waiting in the queue now. */
  get queuedRecords(): number {
    return Atomics.load(this.control, QUEUED);
  }

  /**
   * Resolves once every record the kernel had written when it was called has
   * been handed to `onRecords` (or counted as dropped): within one poll round
   * (50 ms). A reader that asks for the flows up to now gets them all.
   */
  flush(): Promise<void> {
    const seq = ++this.flushAsked;
    Atomics.store(this.control, FLUSH, seq);
    this.worker.ref(); // the answer is awaited: it must keep the process alive until it comes
    return new Promise((resolve) => this.flushWaiters.push({ seq, resolve }));
  }

  private flushDone(seq: number): void {
    for (let i = this.flushWaiters.length - 1; i >= 0; i--) {
      if (this.flushWaiters[i]!.seq <= seq) this.flushWaiters.splice(i, 1)[0]!.resolve();
    }
    if (this.flushWaiters.length === 0) this.worker.unref();
  }

  async stop(): Promise<void> {
    for (const w of this.flushWaiters.splice(0)) w.resolve();
    Atomics.store(this.control, STOP, 1);
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => { void this.worker.terminate().then(() => resolve()); }, 2000);
      this.worker.once('exit', () => { clearTimeout(t); resolve(); });
    });
  }
}

/** Indexes of EventStream's control array, shared with ringbuf-worker.ts. */
export const STOP = 0;
export const QUEUED = 1;
export const FLUSH = 2;
/** 64 Ki records: 4 MiB of 64-byte flow events, several seconds of a busy node's flows. */
export const DEFAULT_MAX_QUEUED_RECORDS = 65536;
