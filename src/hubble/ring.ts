/** Fixed-capacity rings of the most recent items (flows, agent events), with followers. */
import type { Flow } from './flow.js';

/**
 * The most recent `capacity` items, oldest first, and followers that get
 * every item pushed from when they follow. A follower that throws is
 * dropped; one that skips items (a slow client) reports them with
 * countFollowerLoss.
 */
export class Ring<T> {
  private readonly buf: (T | undefined)[];
  private next = 0;
  private count = 0;
  private seenTotal = 0;
  private followerLost = 0;
  private readonly followers = new Set<(item: T) => void>();
  /** The followers as an array, replaced (never changed) on follow and unfollow: push walks it without an iterator. */
  private following: ((item: T) => void)[] = [];

  constructor(readonly capacity: number) {
    this.buf = new Array(capacity);
  }

  push(item: T): void {
    this.buf[this.next] = item;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
    this.seenTotal++;
    const following = this.following;
    for (let i = 0; i < following.length; i++) {
      const fn = following[i]!;
      // One that an earlier follower's callback unfollowed gets no more items (as with the set itself).
      if (this.following !== following && !this.followers.has(fn)) continue;
      try {
        fn(item);
      } catch {
        // A follower's failure is its own (a closed stream); it must never stop the pipeline.
        this.unfollow(fn);
      }
    }
  }

  get size(): number { return this.count; }
  get seen(): number { return this.seenTotal; }
  /** Items followers skipped because their client read too slowly (for flows, Hubble's HUBBLE_RING_BUFFER lost events). */
  get lostToFollowers(): number { return this.followerLost; }

  /** A follower's stream skipped `n` items (it is the follower's to count, the ring's to sum for every follower). */
  countFollowerLoss(n: number): void {
    this.followerLost += n;
  }

  /** Items oldest first. */
  *values(): Generator<T> {
    const start = (this.next - this.count + this.capacity) % this.capacity;
    for (let i = 0; i < this.count; i++) yield this.buf[(start + i) % this.capacity]!;
  }

  /** Calls `fn` with every item pushed from now on; returns the unfollow function. */
  follow(fn: (item: T) => void): () => void {
    this.followers.add(fn);
    this.following = [...this.followers];
    return () => this.unfollow(fn);
  }

  private unfollow(fn: (item: T) => void): boolean {
    const had = this.followers.delete(fn);
    if (had) this.following = [...this.followers];
    return had;
  }
}

/** The node's recent flows (Hubble's flow ring, default 4095). */
export class FlowRing extends Ring<Flow> {
  constructor(capacity = 4095) {
    super(capacity);
  }
}
