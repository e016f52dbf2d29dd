/**
 * Time windows, with Kafka Streams' semantics (TimeWindows): fixed-size windows that start every
 * `advanceMs` from the epoch, each covering [start, start + size). Tumbling windows advance by their
 * size; hopping windows by less, so a record falls in several. A window stays open for late records
 * until stream time passes its end plus the grace period; after that they are dropped.
 */

/** A window's bounds in epoch milliseconds: `start` inclusive, `end` exclusive. */
export interface Window {
  readonly start: number;
  readonly end: number;
}

/** A key of a windowed aggregate: the group's key and the window it is for. */
export interface Windowed<K> {
  readonly key: K;
  readonly window: Window;
}

/** Refuses a duration that is not a whole number of ms of at least `least`, naming the windows and what it is. */
function checkDuration(windows: string, what: string, ms: number, least: number): void {
  if (!Number.isSafeInteger(ms) || ms < least) {
    throw new RangeError(`${windows}: ${what} must be a whole number of ms of at least ${least}, got ${ms}`);
  }
}

export class TimeWindows {
  private constructor(
    readonly sizeMs: number,
    readonly advanceMs: number,
    readonly graceMs: number,
  ) {}

  /** Tumbling windows of `sizeMs` that accept no late records (Kafka Streams' ofSizeWithNoGrace). */
  static ofSizeWithNoGrace(sizeMs: number): TimeWindows {
    return TimeWindows.ofSizeAndGrace(sizeMs, 0);
  }

  /** Tumbling windows of `sizeMs` that accept records up to `graceMs` after their end in stream time. */
  static ofSizeAndGrace(sizeMs: number, graceMs: number): TimeWindows {
    checkDuration('TimeWindows', 'the size', sizeMs, 1);
    checkDuration('TimeWindows', 'the grace period', graceMs, 0);
    return new TimeWindows(sizeMs, sizeMs, graceMs);
  }

  /** Hopping windows: a new window starts every `advanceMs` (at most the size). */
  advanceBy(advanceMs: number): TimeWindows {
    checkDuration('TimeWindows', 'the advance', advanceMs, 1);
    if (advanceMs > this.sizeMs) {
      throw new RangeError(`TimeWindows: the advance (${advanceMs} ms) must not exceed the size (${this.sizeMs} ms)`);
    }
    return new TimeWindows(this.sizeMs, advanceMs, this.graceMs);
  }

  /** The windows a record of `timestamp` falls in, earliest first; none start before the epoch. */
  windowsFor(timestamp: number): Window[] {
    const windows: Window[] = [];
    let start = Math.floor(Math.max(0, timestamp - this.sizeMs + this.advanceMs) / this.advanceMs) * this.advanceMs;
    for (; start <= timestamp; start += this.advanceMs) windows.push({ start, end: start + this.sizeMs });
    return windows;
  }
}

/**
 * Session windows, with Kafka Streams' semantics (SessionWindows): a key's records less than the
 * inactivity gap apart make one session, [first record's time, last record's time] with both ends
 * inclusive; a record that bridges two sessions merges them. A session stays open for late records
 * until stream time passes its end plus the gap plus the grace period.
 */
export class SessionWindows {
  private constructor(
    readonly gapMs: number,
    readonly graceMs: number,
  ) {}

  static ofInactivityGapWithNoGrace(gapMs: number): SessionWindows {
    return SessionWindows.ofInactivityGapAndGrace(gapMs, 0);
  }

  static ofInactivityGapAndGrace(gapMs: number, graceMs: number): SessionWindows {
    checkDuration('SessionWindows', 'the inactivity gap', gapMs, 1);
    checkDuration('SessionWindows', 'the grace period', graceMs, 0);
    return new SessionWindows(gapMs, graceMs);
  }
}

/**
 * Sliding windows, with Kafka Streams' semantics (SlidingWindows, KIP-450): windows of a fixed time
 * difference `timeDifferenceMs` that exist only where records are, both ends inclusive. Each record
 * has a window ending at it, [t - difference, t], and one starting just after it, [t + 1, t + 1 +
 * difference], which exists once a later record falls in it; a window's aggregate covers exactly the
 * records inside it. A window takes late records until stream time passes its end plus the grace.
 */
export class SlidingWindows {
  private constructor(
    readonly timeDifferenceMs: number,
    readonly graceMs: number,
  ) {}

  static ofTimeDifferenceWithNoGrace(timeDifferenceMs: number): SlidingWindows {
    return SlidingWindows.ofTimeDifferenceAndGrace(timeDifferenceMs, 0);
  }

  static ofTimeDifferenceAndGrace(timeDifferenceMs: number, graceMs: number): SlidingWindows {
    // Kafka Streams takes 0 too, and then fails on the first record ([t, t] is no window): refused here.
    checkDuration('SlidingWindows', 'the time difference', timeDifferenceMs, 1);
    checkDuration('SlidingWindows', 'the grace period', graceMs, 0);
    return new SlidingWindows(timeDifferenceMs, graceMs);
  }
}

/**
 * How close in time two streams' records must be to join (Kafka Streams' JoinWindows): a left record
 * at t joins right records from t - before to t + after, both ends inclusive. The grace period says
 * how long after that a left or outer join still waits for a match before it emits the record
 * joined with null (Kafka Streams' current rule, without spurious early results).
 */
export class JoinWindows {
  private constructor(
    readonly beforeMs: number,
    readonly afterMs: number,
    readonly graceMs: number,
  ) {}

  /** Records at most `timeDifferenceMs` apart, either way, join; none wait past that. */
  static ofTimeDifferenceWithNoGrace(timeDifferenceMs: number): JoinWindows {
    return JoinWindows.ofTimeDifferenceAndGrace(timeDifferenceMs, 0);
  }

  static ofTimeDifferenceAndGrace(timeDifferenceMs: number, graceMs: number): JoinWindows {
    checkDuration('JoinWindows', 'the time difference', timeDifferenceMs, 0);
    checkDuration('JoinWindows', 'the grace period', graceMs, 0);
    return new JoinWindows(timeDifferenceMs, timeDifferenceMs, graceMs);
  }

  /** How long before a left record its right records may be (may be negative; before + after may not). */
  before(timeDifferenceMs: number): JoinWindows {
    return JoinWindows.checked(timeDifferenceMs, this.afterMs, this.graceMs);
  }

  /** How long after a left record its right records may be (may be negative; before + after may not). */
  after(timeDifferenceMs: number): JoinWindows {
    return JoinWindows.checked(this.beforeMs, timeDifferenceMs, this.graceMs);
  }

  private static checked(beforeMs: number, afterMs: number, graceMs: number): JoinWindows {
    if (!Number.isSafeInteger(beforeMs) || !Number.isSafeInteger(afterMs)) {
      throw new RangeError(`JoinWindows: before and after must be whole numbers of ms, got ${beforeMs} and ${afterMs}`);
    }
    if (beforeMs + afterMs < 0) {
      throw new RangeError(`JoinWindows: before + after must not be negative, got ${beforeMs} + ${afterMs}`);
    }
    return new JoinWindows(beforeMs, afterMs, graceMs);
  }
}
