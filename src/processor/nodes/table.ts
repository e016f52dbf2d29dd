// The stateful table operators: a stream read as a table, and aggregation.
import { UndoLog } from '../../util/undo-log.js';
import type { AnyFn } from '../../dsl/graph.js';
import type { Serde } from '../../serdes/serde.js';
import type { Change, ChangeCache, KeyValueStore, ProcessorContext, RecordOrigin } from '../types.js';
import { laterInSource } from '../lineage.js';
import { ForwardingProcessor } from './node.js';

/** Upserts each record into the table's store and forwards the change. */
export class ToTable extends ForwardingProcessor {
  constructor(
    private readonly store: KeyValueStore<unknown, unknown>,
    /** Whether downstream uses old rows; without, one is read only to tell a delete of nothing. */
    private readonly sendOldValues = true,
  ) {
    super();
  }

  process(key: unknown, value: unknown, timestamp: number): void {
    const newValue = value ?? null;
    const oldValue = !this.sendOldValues && newValue !== null ? null : this.store.get(key);
    if (oldValue === null && newValue === null) return;
    this.store.put(key, newValue);
    this.forward(key, { newValue, oldValue }, timestamp);
  }
}

interface HeldChange {
  readonly key: unknown;
  /** The value before the first held change: what downstream last saw. */
  readonly oldValue: unknown;
  newValue: unknown;
  timestamp: number;
  origin: RecordOrigin;
}

/** How an aggregate holds back its changes; absent, it forwards each change at once. */
export interface AggregateCaching {
  readonly context: ProcessorContext;
  /** The serde of the aggregate's store keys: held changes are found by the key's bytes. */
  readonly keySerde: Serde<unknown>;
}

/**
 * An aggregate's changes held back until the task flushes them, the newest per key, each with the
 * value downstream saw before the first of them (Kafka Streams' record cache in front of a store).
 */
export class HeldChanges {
  private readonly held = new Map<string, HeldChange>();
  /** Held changes the current record replaced or added (undefined: added), to take back if it fails. */
  private readonly undo = new UndoLog<string, HeldChange>();

  constructor(
    private readonly caching: AggregateCaching,
    /**
     * Flush in the order of the changes' timestamps (else in the order their keys were first held). A
     * windowed aggregate's changes must reach a suppression in time order: a later window's change
     * flushed first would move its stream time past an earlier window's close, which would let that
     * window through before the earlier window's own last change, and then again.
     */
    private readonly inTimeOrder = false,
  ) {}

  hold(key: unknown, previous: unknown, aggregate: unknown, timestamp: number): void {
    const id = this.caching.keySerde.serialize(key).toString('latin1');
    const held = this.held.get(id);
    this.undo.record(id, held && { ...held });
    const origin = laterInSource(this.caching.context.origin, held?.origin);
    if (held) {
      held.newValue = aggregate;
      held.timestamp = timestamp;
      held.origin = origin;
    } else {
      this.held.set(id, { key, oldValue: previous, newValue: aggregate, timestamp, origin });
    }
  }

  get count(): number {
    return this.held.size;
  }

  /** Hands each held change to `run` with the record that made it last; `forward` passes it on. */
  flush(
    run: (origin: RecordOrigin, forward: () => void) => void,
    forward: (key: unknown, change: Change<unknown>, timestamp: number) => void,
  ): void {
    const changes = [...this.held.values()];
    if (this.inTimeOrder) changes.sort((a, b) => a.timestamp - b.timestamp);
    this.held.clear();
    this.undo.clear();
    for (const c of changes)
      run(c.origin, () => forward(c.key, { newValue: c.newValue, oldValue: c.oldValue }, c.timestamp));
  }

  beginRecord(): void {
    this.undo.clear();
  }

  rollbackRecord(): void {
    this.undo.rollback((id, before) => {
      if (before) this.held.set(id, before);
      else this.held.delete(id);
    });
  }
}

/**
 * An aggregate node that, with caching, holds its changes back until the task flushes them (see
 * HeldChanges); without, forwards each at once.
 */
export abstract class HoldingProcessor extends ForwardingProcessor implements ChangeCache {
  private readonly held: HeldChanges | undefined;

  constructor(caching: AggregateCaching | undefined, inTimeOrder = false) {
    super();
    this.held = caching && new HeldChanges(caching, inTimeOrder);
  }

  /** Passes on a change of `key` from `previous` to `aggregate`, now or at the next flush. */
  protected emit(key: unknown, previous: unknown, aggregate: unknown, timestamp: number): void {
    if (this.held) this.held.hold(key, previous, aggregate, timestamp);
    else this.forward(key, { newValue: aggregate, oldValue: previous }, timestamp);
  }

  get heldCount(): number {
    return this.held?.count ?? 0;
  }

  flush(run: (origin: RecordOrigin, forward: () => void) => void): void {
    this.held?.flush(run, (key, change, timestamp) => this.forward(key, change, timestamp));
  }

  beginRecord(): void {
    this.held?.beginRecord();
  }

  rollbackRecord(): void {
    this.held?.rollbackRecord();
  }
}

/**
 * Folds regrouped rows into one value per group: the old contribution is
 * subtracted, the new one added, so updates and deletes keep it exact.
 */
export class Aggregate extends HoldingProcessor {
  constructor(
    private readonly store: KeyValueStore<unknown, unknown>,
    private readonly initializer: AnyFn,
    private readonly adder: AnyFn,
    private readonly subtractor: AnyFn | undefined,
    caching?: AggregateCaching,
  ) {
    super(caching);
  }

  process(key: unknown, change: Change<unknown>, timestamp: number): void {
    // A grouped stream's record with a null value (only windowed aggregates take those, as in Kafka Streams).
    if (change.newValue === null && change.oldValue === null) return;
    const previous = this.store.get(key);
    let aggregate = previous ?? this.initializer();
    if (change.oldValue !== null && this.subtractor) aggregate = this.subtractor(key, change.oldValue, aggregate);
    if (change.newValue !== null) aggregate = this.adder(key, change.newValue, aggregate);
    this.store.put(key, aggregate);
    this.emit(key, previous, aggregate, timestamp);
  }
}
