/**
 * The processor of a global store added with addGlobalStore, run over the records of its topic: each
 * record is read with the updater's serdes and handed to the processor, whose writes to the store are
 * collected, in order, for the caller to apply with the partition's new position in one batch. Reads
 * see the writes of earlier records of the same run. Used by the instance's global stores (restore
 * and follow alike) and by the test driver.
 */
import type { CompiledGlobalStore } from '../processor/compile.js';
import type { Processor, ProcessorContext, RecordMetadata } from '../processor/api.js';
import type { Header, KeyValueStore } from '../processor/types.js';

/** A record of the store's topic. */
export interface GlobalTopicRecord {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly offset: bigint;
  readonly timestamp: number;
  readonly headers?: readonly Header[] | undefined;
}

/** A write of the store: the serialized key, and its serialized value (null deletes the row). */
export type GlobalStoreWrite = [key: Buffer, value: Buffer | null];

/**
 * The writes a partition's records make to a global store, in order: those of the store's processor
 * (addGlobalStore), or, for a global table, each keyed record as its row (a null value deletes it).
 */
export function globalStoreWrites(
  updater: GlobalStoreUpdater | undefined,
  partition: number,
  records: readonly GlobalTopicRecord[],
): GlobalStoreWrite[] {
  if (updater) return updater.run(partition, records);
  const writes: GlobalStoreWrite[] = [];
  for (const { key, value } of records) if (key !== null) writes.push([key, value]);
  return writes;
}

/** The processor of a global store threw on a record (or the record could not be read): the store stops there. */
export class GlobalStoreProcessingError extends Error {
  constructor(store: string, where: string, cause: unknown) {
    super(
      `the processor of global store ${store} failed on ${where}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    this.name = 'GlobalStoreProcessingError';
  }
}

export class GlobalStoreUpdater {
  private readonly processor: Processor<unknown, unknown>;
  private readonly store: KeyValueStore<unknown, unknown>;
  /** The writes of the current run, by key (latin1): what later records of the run read. */
  private pending = new Map<string, Buffer | null>();
  private writes: GlobalStoreWrite[] = [];
  private metadata: RecordMetadata | undefined;
  private streamTime = -1;

  constructor(
    private readonly spec: CompiledGlobalStore,
    /** The store's committed row of a serialized key. */
    read: (key: Buffer) => Buffer | undefined,
  ) {
    if (!spec.updater) throw new Error(`global store ${spec.name} has no processor`);
    const { keySerde, valueSerde } = spec;
    this.store = {
      name: spec.name,
      get: (key) => {
        const bytes = keySerde.serialize(key);
        const id = bytes.toString('latin1');
        const value = this.pending.has(id) ? this.pending.get(id)! : (read(bytes) ?? null);
        return value === null ? null : valueSerde.deserialize(value);
      },
      put: (key, value) => {
        const bytes = keySerde.serialize(key);
        const serialized = value === null || value === undefined ? null : valueSerde.serialize(value);
        this.pending.set(bytes.toString('latin1'), serialized);
        this.writes.push([bytes, serialized]);
      },
    };
    const context: ProcessorContext<never, never> = {
      taskId: `global-${spec.name}`,
      partition: -1,
      recordMetadata: () => this.metadata,
      currentStreamTimeMs: () => this.streamTime,
      currentSystemTimeMs: () => Date.now(),
      forward: () => {
        throw new Error(`the processor of global store ${spec.name} may not forward: it only writes its store`);
      },
      getStateStore: <K, V>(name: string) => {
        if (name !== spec.name)
          throw new Error(`the processor of global store ${spec.name} can only reach that store, not "${name}"`);
        return this.store as KeyValueStore<K, V>;
      },
      schedule: () => {
        throw new Error(`the processor of global store ${spec.name} cannot schedule punctuators`);
      },
    };
    this.processor = spec.updater.supplier() as Processor<unknown, unknown>;
    this.processor.init?.(context);
  }

  /** Runs a partition's records through the processor; the store writes they made, in order. */
  run(partition: number, records: readonly GlobalTopicRecord[]): GlobalStoreWrite[] {
    const { keySerde, valueSerde } = this.spec.updater!;
    try {
      for (const record of records) {
        this.metadata = { topic: this.spec.topic, partition, offset: record.offset.toString() };
        if (record.timestamp > this.streamTime) this.streamTime = record.timestamp;
        try {
          this.processor.process({
            key: record.key === null ? null : keySerde.deserialize(record.key),
            value: record.value === null ? null : valueSerde.deserialize(record.value),
            timestamp: record.timestamp,
            headers: record.headers ?? [],
          });
        } catch (error) {
          throw new GlobalStoreProcessingError(
            this.spec.name,
            `${this.spec.topic}-${partition}@${record.offset}`,
            error,
          );
        }
      }
      return this.writes;
    } finally {
      this.metadata = undefined;
      this.pending = new Map();
      this.writes = [];
    }
  }

  close(): void {
    this.processor.close?.();
  }
}
