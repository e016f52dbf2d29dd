// Where records enter and leave a task: sources, sinks and regrouping.
import type { AnyFn } from '../../dsl/graph.js';
import type { Serde } from '../../serdes/serde.js';
import { encodeChangePair } from '../change-pair.js';
import { InvalidRecordError, SerializationError } from '../errors.js';
import { outgoingHeaders } from '../record-headers.js';
import type { Change, ProcessorContext } from '../types.js';
import { ForwardingProcessor } from './node.js';

/** Writes records to a topic; a null value becomes a tombstone. */
export class Sink extends ForwardingProcessor {
  constructor(
    private readonly context: ProcessorContext,
    private readonly topic: string,
    private readonly keySerde: Serde<unknown>,
    private readonly valueSerde: Serde<unknown>,
    /** Carry each record's lineage in a header (internal topics, read again by this application). */
    private readonly options: { lineage?: boolean } = {},
  ) {
    super();
  }

  process(key: unknown, value: unknown, timestamp: number): void {
    let keyBytes: Buffer | null;
    let valueBytes: Buffer | null;
    try {
      keyBytes = key === null || key === undefined ? null : this.keySerde.serialize(key);
      valueBytes = value === null || value === undefined ? null : this.valueSerde.serialize(value);
    } catch (error) {
      throw new SerializationError(this.topic, error);
    }
    const headers = outgoingHeaders(this.context, this.options.lineage === true);
    this.context.send({ topic: this.topic, key: keyBytes, value: valueBytes, timestamp, headers });
  }
}

/**
 * Sends each row's contribution to the partition of its group, through the
 * repartition topic: for a table update, the old row to its old group (to be
 * subtracted) and the new row to its new group (one record when both groups
 * are the same).
 */
export class GroupBy extends ForwardingProcessor {
  constructor(
    private readonly context: ProcessorContext,
    private readonly topic: string,
    private readonly selector: AnyFn,
    private readonly keySerde: Serde<unknown>,
    private readonly valueSerde: Serde<unknown>,
    /** Whether the parent is a table (it forwards changes) or a stream (plain values). */
    private readonly fromTable: boolean,
    /**
     * Whether a stream record with a null value goes to its group too: when a windowed aggregate reads
     * the grouping, which takes such records as Kafka Streams' do (the others leave them out).
     */
    private readonly nullValues = false,
  ) {
    super();
  }

  process(key: unknown, value: unknown, timestamp: number): void {
    if (!this.fromTable) {
      if ((value === null || value === undefined) && !this.nullValues) return;
      const selected = this.select(key, value ?? null);
      this.send(selected.key, selected.value, null, timestamp);
      return;
    }
    const change = value as Change<unknown>;
    const added = change.newValue === null ? null : this.select(key, change.newValue);
    const removed = change.oldValue === null ? null : this.select(key, change.oldValue);
    if (added && removed && added.key.equals(removed.key)) {
      this.send(added.key, added.value, removed.value, timestamp);
      return;
    }
    if (removed) this.send(removed.key, null, removed.value, timestamp);
    if (added) this.send(added.key, added.value, null, timestamp);
  }

  private select(key: unknown, row: unknown): { key: Buffer; value: Buffer | null } {
    const selected = this.selector(key, row) as { key: unknown; value: unknown };
    if (selected.key === null || selected.key === undefined) {
      throw new InvalidRecordError(`groupBy: the selector gave no key for record key ${String(key)}`);
    }
    try {
      const value =
        selected.value === null || selected.value === undefined ? null : this.valueSerde.serialize(selected.value);
      return { key: this.keySerde.serialize(selected.key), value };
    } catch (error) {
      throw new SerializationError(this.topic, error);
    }
  }

  private send(key: Buffer, newValue: Buffer | null, oldValue: Buffer | null, timestamp: number): void {
    this.context.send({
      topic: this.topic,
      key,
      value: encodeChangePair(newValue, oldValue),
      timestamp,
      headers: outgoingHeaders(this.context, true),
    });
  }
}

/**
 * A stream grouped by its unchanged key (groupByKey): the records already are in their group's task,
 * so each goes straight to the aggregates as an added value. As in Kafka Streams, a record with a
 * null key is not aggregated; one with a null value only by windowed aggregates (see Aggregate).
 */
export class GroupInPlace extends ForwardingProcessor {
  process(key: unknown, value: unknown, timestamp: number): void {
    if (key === null || key === undefined) return;
    this.forward(key, { newValue: value ?? null, oldValue: null }, timestamp);
  }
}
