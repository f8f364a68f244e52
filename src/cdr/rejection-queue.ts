/**
 * The rejected-attempt path. A refused INVITE never touches Redis, so its CDR waits here for the next
 * batch; with nowhere else to keep it, a CDR turned away by a full queue is lost, and counted as dropped.
 */
import { cdrFromRejection, type Cdr, type RejectedAttempt } from './builder.js';
import type { CdrLogger } from './logger.js';

export class RejectionQueue {
  private readonly queue: { cdr: Cdr; submittedAt: number }[] = [];
  dropped = 0;

  constructor(
    private readonly maxPending: number,
    private readonly logger: CdrLogger,
    private readonly now: () => number,
  ) {}

  get length(): number {
    return this.queue.length;
  }

  /** false when the queue was full and the CDR was dropped. */
  record(attempt: RejectedAttempt): boolean {
    if (this.queue.length >= this.maxPending) {
      this.dropped++;
      this.logger.error({ callId: attempt.callId, maxPending: this.maxPending }, 'CDR writer is full: rejected-attempt CDR dropped');
      return false;
    }
    this.queue.push({ cdr: cdrFromRejection(attempt), submittedAt: this.now() });
    return true;
  }

  /** The oldest `max` CDRs, left queued until removeFirst() says they are durable. */
  oldest(max: number): Cdr[] {
    return this.queue.slice(0, max).map((r) => r.cdr);
  }

  removeFirst(count: number): void {
    this.queue.splice(0, count);
  }

  oldestSubmittedAt(): number | undefined {
    return this.queue[0]?.submittedAt;
  }
}
