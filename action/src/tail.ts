/** Keeps the last `capacity` bytes of a stream without holding the whole stream in memory. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private held = 0;
  /** Every byte seen, kept or not. */
  totalBytes = 0;

  constructor(readonly capacity: number) {}

  push(chunk: Buffer): void {
    this.totalBytes += chunk.length;
    this.chunks.push(chunk);
    this.held += chunk.length;
    // Drop whole chunks from the front while the rest still fills the capacity, then trim the first one.
    while (this.chunks.length > 1 && this.held - this.chunks[0]!.length >= this.capacity) {
      this.held -= this.chunks.shift()!.length;
    }
    const excess = this.held - this.capacity;
    if (excess > 0) {
      this.chunks[0] = this.chunks[0]!.subarray(excess);
      this.held -= excess;
    }
  }

  /** The kept bytes (at most `capacity`). */
  bytes(): Buffer {
    return Buffer.concat(this.chunks, this.held);
  }

  /** True when bytes were dropped from the front. */
  get truncated(): boolean {
    return this.totalBytes > this.held;
  }
}
