/**
 * A token bucket shared by every request of a run, so `-l` caps the total
 * over all channels, not each one.
 */
export class RateLimiter {
  private readonly bytesPerSec: number;
  private available: number;
  private last = performance.now();

  constructor(bytesPerSec: number) {
    this.bytesPerSec = bytesPerSec;
    // A burst of a tenth of a second keeps the pipe busy without overshooting.
    this.available = bytesPerSec / 10;
  }

  /** Wait until `bytes` may be sent. Returns false (without waiting further) once `signal` aborts. */
  async take(bytes: number, signal?: AbortSignal): Promise<boolean> {
    for (;;) {
      if (signal?.aborted) return false;
      const now = performance.now();
      this.available = Math.min(this.bytesPerSec / 10, this.available + ((now - this.last) / 1000) * this.bytesPerSec);
      this.last = now;
      if (this.available >= bytes || this.available >= this.bytesPerSec / 10) {
        this.available -= bytes;
        return true;
      }
      const waitMs = ((bytes - this.available) / this.bytesPerSec) * 1000;
      // Short naps so an interrupt is noticed quickly even at a few KB/s.
      await new Promise((r) => setTimeout(r, Math.min(Math.max(waitMs, 1), 100)));
    }
  }
}
