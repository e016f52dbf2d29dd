/**
 * A task's punctuators (ProcessorContext.schedule), as Kafka Streams' PunctuationQueue: each fires at
 * most once per call when its time has come, with the time it fires at, and its next time moves to
 * the first interval boundary after that (a long gap is not made up with a burst of calls). Fired in
 * order of their due times. As in Kafka Streams, stream-time schedules are aligned to 0 (the first
 * fires with the first record), wall-clock ones start an interval after they were made.
 */
import type { Cancellable, PunctuationType } from './api.js';

interface Schedule {
  readonly type: PunctuationType;
  readonly intervalMs: number;
  readonly punctuator: (timestamp: number) => void;
  /** When it fires next. */
  next: number;
  cancelled: boolean;
}

export class Punctuation {
  private readonly schedules: Schedule[] = [];

  /** `wallClockNow` is the system time when it is scheduled. */
  schedule(
    type: PunctuationType,
    intervalMs: number,
    punctuator: (timestamp: number) => void,
    wallClockNow: number,
  ): Cancellable {
    if (!Number.isFinite(intervalMs) || intervalMs < 1) {
      throw new RangeError(`a punctuation interval must be at least 1 ms, got ${intervalMs}`);
    }
    const schedule: Schedule = {
      type,
      intervalMs,
      punctuator,
      next: type === 'stream-time' ? 0 : wallClockNow + intervalMs,
      cancelled: false,
    };
    this.schedules.push(schedule);
    return {
      cancel: () => {
        schedule.cancelled = true;
        this.schedules.splice(this.schedules.indexOf(schedule), 1);
      },
    };
  }

  get size(): number {
    return this.schedules.length;
  }

  /**
   * Fires the punctuators of `type` whose time has come by `now`, earliest first, each through `run`
   * (the task runs it as it runs a record). Returns how many fired.
   */
  fire(type: PunctuationType, now: number, run: (punctuate: () => void) => void): number {
    const due: Schedule[] = [];
    for (const schedule of this.schedules) {
      if (schedule.type === type && !schedule.cancelled && schedule.next <= now) due.push(schedule);
    }
    due.sort((a, b) => a.next - b.next);
    for (const schedule of due) {
      if (schedule.cancelled) continue;
      const missed = Math.floor((now - schedule.next) / schedule.intervalMs);
      schedule.next += (missed + 1) * schedule.intervalMs;
      run(() => schedule.punctuator(now));
    }
    return due.length;
  }
}
