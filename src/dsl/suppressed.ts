/**
 * Suppression (KTable.suppress), with Kafka Streams' semantics: a table's changes wait in a buffer,
 * the latest per key, until their time comes: the key's window closes (untilWindowCloses: final
 * results of a windowed aggregation), or a time limit has passed in stream time since the key's first
 * buffered change (untilTimeLimit: rate limiting). The buffer is kept in a store with a changelog,
 * so it survives restarts exactly once.
 */

/** What a full buffer does: emit its oldest entries early, or stop the application. */
export type WhenFull = 'emit-early' | 'shut-down';

/** How many records and bytes a suppression buffer may hold, and what happens beyond. */
export class BufferConfig {
  private constructor(
    readonly maxRecords: number,
    readonly maxBytes: number,
    readonly whenFull: WhenFull,
  ) {}

  /** No limit but memory; reaching that stops the application (Kafka Streams' unbounded()). */
  static unbounded(): BufferConfig {
    return new BufferConfig(Infinity, Infinity, 'shut-down');
  }

  /** At most `n` keys; beyond, the oldest are emitted early (unless shutDownWhenFull). */
  static maxRecords(n: number): BufferConfig {
    return new BufferConfig(limit('maxRecords', n), Infinity, 'emit-early');
  }

  /** At most `bytes` of keys and values; beyond, the oldest are emitted early (unless shutDownWhenFull). */
  static maxBytes(bytes: number): BufferConfig {
    return new BufferConfig(Infinity, limit('maxBytes', bytes), 'emit-early');
  }

  withMaxRecords(n: number): BufferConfig {
    return new BufferConfig(limit('maxRecords', n), this.maxBytes, this.whenFull);
  }

  withMaxBytes(bytes: number): BufferConfig {
    return new BufferConfig(this.maxRecords, limit('maxBytes', bytes), this.whenFull);
  }

  emitEarlyWhenFull(): BufferConfig {
    return new BufferConfig(this.maxRecords, this.maxBytes, 'emit-early');
  }

  /** A full buffer stops the application rather than emit a result before its time. */
  shutDownWhenFull(): BufferConfig {
    return new BufferConfig(this.maxRecords, this.maxBytes, 'shut-down');
  }
}

function limit(what: string, n: number): number {
  if (!Number.isSafeInteger(n) || n < 1)
    throw new RangeError(`BufferConfig: ${what} must be a positive whole number, got ${n}`);
  return n;
}

export class Suppressed {
  private constructor(
    readonly until: 'window-close' | 'time-limit',
    /** For a time limit: how long in stream time a key's first change waits. */
    readonly timeLimitMs: number,
    readonly buffer: BufferConfig,
    readonly name?: string,
  ) {}

  /**
   * Only the final result of each window, once stream time has passed its end plus the grace period
   * of the windowed aggregation upstream; never a tombstone. The buffer must not emit early.
   */
  static untilWindowCloses(buffer: BufferConfig): Suppressed {
    if (buffer.whenFull !== 'shut-down') {
      throw new Error(
        'Suppressed.untilWindowCloses: the buffer must not emit early (a final result must be final): use BufferConfig.unbounded() or shutDownWhenFull()',
      );
    }
    return new Suppressed('window-close', 0, buffer);
  }

  /** Each key's latest change once `timeLimitMs` of stream time has passed since its first buffered one. */
  static untilTimeLimit(timeLimitMs: number, buffer: BufferConfig): Suppressed {
    if (!Number.isSafeInteger(timeLimitMs) || timeLimitMs < 0) {
      throw new RangeError(
        `Suppressed.untilTimeLimit: the limit must be a whole number of ms, 0 or more, got ${timeLimitMs}`,
      );
    }
    return new Suppressed('time-limit', timeLimitMs, buffer);
  }

  /** Names the operator and its buffer's store (`<name>-store`). */
  withName(name: string): Suppressed {
    return new Suppressed(this.until, this.timeLimitMs, this.buffer, name);
  }
}
