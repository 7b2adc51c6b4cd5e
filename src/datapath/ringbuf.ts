/**
 * Reading the datapath's events ring buffer. `RingBuf` is the synchronous
 * primitive (libbpf ring_buffer over koffi); `EventStream` runs it in a
 * worker thread so a burst of events never blocks the agent's event loop,
 * and hands records over in batches.
 */
import { Worker } from 'node:worker_threads';
import koffi from 'koffi';
import { MembraneError } from '../common/errors.js';
import { RingBufferSampleFn, checkPtr, native } from './libbpf.js';

export class RingBuf {
  private readonly rb: unknown;
  private readonly cb: unknown;
  private pending: Buffer[] = [];

  /** `mapFd`: a BPF_MAP_TYPE_RINGBUF map fd (shared by every thread of the process). */
  constructor(mapFd: number) {
    this.cb = koffi.register((_ctx: unknown, data: unknown, size: number) => {
      this.pending.push(Buffer.from(koffi.view(data as never, Number(size)) as ArrayBuffer).subarray(0, Number(size)));
      return 0;
    }, koffi.pointer(RingBufferSampleFn));
    this.rb = checkPtr(native.ringBufferNew(mapFd, this.cb, null, null), 'opening the events ring buffer');
  }

  /** Takes every record available now, without waiting. */
  consume(): Buffer[] {
    const ret = native.ringBufferConsume(this.rb);
    if (ret < 0 && ret !== -4) throw new MembraneError('EKERNEL', `reading the events ring buffer: errno ${-ret}`);
    return this.take();
  }

  /** Waits up to `timeoutMs` for records, then takes what arrived. */
  poll(timeoutMs: number): Buffer[] {
    const ret = native.ringBufferPoll(this.rb, timeoutMs);
    if (ret < 0 && ret !== -4 /* EINTR */) throw new MembraneError('EKERNEL', `polling the events ring buffer: errno ${-ret}`);
    return this.take();
  }

  private take(): Buffer[] {
    const out = this.pending;
    this.pending = [];
    return out;
  }

  free(): void {
    native.ringBufferFree(this.rb);
    koffi.unregister(this.cb as never);
  }
}

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
  /** [0] stop flag, [1] records posted and not yet handled (the queue). */
  private readonly control = new Int32Array(new SharedArrayBuffer(8));
  /** [0] records the worker dropped because the queue was full. */
  private readonly dropped = new BigInt64Array(new SharedArrayBuffer(8));

  constructor(mapFd: number, recordSize: number, onRecords: (batch: Buffer, count: number) => void, onError: (err: Error) => void,
    maxQueuedRecords = DEFAULT_MAX_QUEUED_RECORDS) {
    this.worker = new Worker(new URL('./ringbuf-worker.js', import.meta.url), {
      workerData: { mapFd, recordSize, control: this.control, dropped: this.dropped, maxQueuedRecords },
    });
    this.worker.on('message', (msg: { batch: ArrayBuffer; count: number }) => {
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

  async stop(): Promise<void> {
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
/** 64 Ki records: 4 MiB of 64-byte flow events, several seconds of a busy node's flows. */
export const DEFAULT_MAX_QUEUED_RECORDS = 65536;
