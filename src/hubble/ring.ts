/** A fixed-capacity ring of the most recent flows, with followers. */
import type { Flow } from './flow.js';

export class FlowRing {
  private readonly buf: (Flow | undefined)[];
  private next = 0;
  private count = 0;
  private seenTotal = 0;
  private followerLost = 0;
  private readonly followers = new Set<(f: Flow) => void>();
  /** The followers as an array, replaced (never changed) on follow and unfollow: push walks it without an iterator. */
  private following: ((f: Flow) => void)[] = [];

  constructor(readonly capacity = 4095) {
    this.buf = new Array(capacity);
  }

  push(f: Flow): void {
    this.buf[this.next] = f;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
    this.seenTotal++;
    const following = this.following;
    for (let i = 0; i < following.length; i++) {
      const fn = following[i]!;
      // One that an earlier follower's callback unfollowed gets no more flows (as with the set itself).
      if (this.following !== following && !this.followers.has(fn)) continue;
      try {
        fn(f);
      } catch {
        // A follower's failure is its own (a closed stream); it must never stop the pipeline.
        this.unfollow(fn);
      }
    }
  }

  get size(): number { return this.count; }
  get seen(): number { return this.seenTotal; }
  /** Flows followers skipped because their client read too slowly (Hubble's HUBBLE_RING_BUFFER lost events). */
  get lostToFollowers(): number { return this.followerLost; }

  /** A follower's stream skipped `n` flows (it is the follower's to count, the ring's to sum for every follower). */
  countFollowerLoss(n: number): void {
    this.followerLost += n;
  }

  /** Flows oldest first. */
  *values(): Generator<Flow> {
    const start = (this.next - this.count + this.capacity) % this.capacity;
    for (let i = 0; i < this.count; i++) yield this.buf[(start + i) % this.capacity]!;
  }

  follow(fn: (f: Flow) => void): () => void {
    this.followers.add(fn);
    this.following = [...this.followers];
    return () => this.unfollow(fn);
  }

  private unfollow(fn: (f: Flow) => void): boolean {
    const had = this.followers.delete(fn);
    if (had) this.following = [...this.followers];
    return had;
  }
}
