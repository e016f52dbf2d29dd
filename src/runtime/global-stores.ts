/**
 * The instance's global stores (GlobalKTable, addGlobalStore): each global store's topic kept whole, every
 * partition, in a LevelDB of its own under <stateDir>/<applicationId>/global/<store>, with the
 * offset reached per partition written in the same batch as the rows, so a restart continues from
 * there. `start` reads every partition up to its end offset at bulk speed (as a restore) before any
 * task processes; then a reader in a group of its own follows the topics and rows change as records
 * arrive, apart from the tasks' commits, as Kafka Streams' global stores do. Read committed: records
 * of aborted transactions are skipped, open ones waited for.
 */
import { join } from 'node:path';
import type { ClusterAdmin, KafkaClient } from '../kafka/client.js';
import { endOffsets } from '../kafka/admin.js';
import { readRangesBulk, type PartitionRange } from '../kafka/bulk-reader.js';
import { ChangelogReader, type ChangelogSink, type ReadRecord } from '../kafka/changelog-reader.js';
import type { CompiledGlobalStore } from '../processor/compile.js';
import type { GlobalStoreReader } from '../processor/types.js';
import type { BatchEntry } from '../state/backend.js';
import { backendRange, type RangeQuery } from '../state/range-query.js';
import { LevelDbBackend } from '../state/leveldb-backend.js';
import {
  GlobalStoreProcessingError,
  GlobalStoreUpdater,
  globalStoreWrites,
  type GlobalTopicRecord,
} from './global-store-updater.js';
import type { Logger } from '../util/logger.js';

const ROW = Buffer.from('r\0');
const OFFSET = Buffer.from('o\0');
const PROGRESS_EVERY_MS = 5_000;

const rowKey = (key: Buffer) => Buffer.concat([ROW, key]);
function offsetKey(partition: number): Buffer {
  const key = Buffer.alloc(OFFSET.length + 4);
  OFFSET.copy(key);
  key.writeUInt32BE(partition, OFFSET.length);
  return key;
}

/** One global store and how far it has read each partition of its topic. */
class GlobalStore {
  readonly positions = new Map<number, bigint>();
  /** For a store added with addGlobalStore: the processor that writes it. */
  readonly updater: GlobalStoreUpdater | undefined;

  constructor(
    readonly spec: CompiledGlobalStore,
    readonly backend: LevelDbBackend,
  ) {
    this.updater = spec.updater && new GlobalStoreUpdater(spec, (key) => this.get(key));
  }

  async loadPositions(): Promise<void> {
    for await (const [key, value] of this.backend.entries(OFFSET)) {
      this.positions.set(key.readUInt32BE(OFFSET.length), value.readBigInt64BE(0));
    }
  }

  /**
   * Applies a partition's records in order and its new position, in one batch: as rows, or, for a
   * store with a processor, the writes the processor makes of them.
   */
  async apply(partition: number, records: readonly GlobalTopicRecord[], next: bigint) {
    const batch: BatchEntry[] = [];
    for (const [key, value] of globalStoreWrites(this.updater, partition, records))
      batch.push({ key: rowKey(key), value });
    const position = Buffer.alloc(8);
    position.writeBigInt64BE(next);
    batch.push({ key: offsetKey(partition), value: position });
    await this.backend.write(batch);
    this.positions.set(partition, next);
  }

  get(key: Buffer): Buffer | undefined {
    return this.backend.getSync(rowKey(key));
  }
}

export interface GlobalStoresOptions {
  kafka: KafkaClient;
  admin: ClusterAdmin;
  /** The directory holding one directory per global store. */
  directory: string;
  /** The group of the reader that follows the topics: one per instance (it reads every partition). */
  groupId: string;
  clientId: string;
  logger: Logger;
  /**
   * The processor of a store added with addGlobalStore failed on a record while following its topic
   * (the store stays before that record): the instance should stop, as Kafka Streams' client does
   * when its global thread dies. During `start`, the failure rejects the start instead.
   */
  onProcessingFailed?: (error: GlobalStoreProcessingError) => void;
}

export class GlobalStores implements GlobalStoreReader {
  private readonly stores = new Map<string, GlobalStore>();
  /** The same stores by their topic (each topic is one global table's). */
  private readonly byTopic = new Map<string, GlobalStore>();
  private reader: ChangelogReader | undefined;
  private readonly log: Logger;

  constructor(
    private readonly specs: readonly CompiledGlobalStore[],
    private readonly options: GlobalStoresOptions,
  ) {
    this.log = options.logger.child({ component: 'global-stores' });
  }

  /** Opens the stores, reads each topic to its end, then follows it. Resolves once the stores are current. */
  async start(abandoned: () => boolean): Promise<void> {
    if (this.specs.length === 0) return;
    const ranges: PartitionRange[] = [];
    for (const spec of this.specs) {
      const store = new GlobalStore(spec, await LevelDbBackend.open(join(this.options.directory, spec.name)));
      this.stores.set(spec.name, store);
      this.byTopic.set(spec.topic, store);
      await store.loadPositions();
      for (const [partition, end] of await endOffsets(this.options.admin, spec.topic)) {
        let from = store.positions.get(partition) ?? 0n;
        if (from > end) {
          // The topic was deleted and made again: what the store holds is of the old one.
          this.log.warn('global store is ahead of its topic; reading it again from the start', {
            store: spec.name,
            topic: spec.topic,
            partition,
          });
          await store.backend.clear(ROW);
          store.positions.clear();
          from = 0n;
        }
        ranges.push({ topic: spec.topic, partition, from, to: end });
      }
    }
    await this.restore(ranges, abandoned);
    this.reader = new ChangelogReader(this.options.kafka, this.options.groupId, [...this.byTopic.keys()], this.log);
    for (const range of ranges) {
      const store = this.byTopic.get(range.topic)!;
      const sink: ChangelogSink = {
        apply: async (records: ReadRecord[], next: bigint) => {
          try {
            await store.apply(
              range.partition,
              records.map((r) => ({ ...r, timestamp: r.timestamp ?? -1 })),
              next,
            );
          } catch (error) {
            // Thrown on, so the reader does not move past the record; the instance is told to stop.
            if (error instanceof GlobalStoreProcessingError) this.options.onProcessingFailed?.(error);
            throw error;
          }
        },
      };
      this.reader.follow(range.topic, range.partition, store.positions.get(range.partition) ?? 0n, sink, range.to);
    }
    await this.reader.start();
  }

  /** Reads every partition from where its store is to the end offset it had when the instance started. */
  private async restore(ranges: readonly PartitionRange[], abandoned: () => boolean): Promise<void> {
    const total = ranges.reduce((n, r) => n + (r.to > r.from ? r.to - r.from : 0n), 0n);
    if (total === 0n) return;
    const started = Date.now();
    let read = 0n;
    let logged = started;
    this.log.info('restoring global stores', { stores: this.specs.map((s) => s.name), offsets: total.toString() });
    await readRangesBulk(
      this.options.admin,
      ranges,
      async (range, records) => {
        const store = this.byTopic.get(range.topic)!;
        const before = store.positions.get(range.partition) ?? range.from;
        // A store with a processor gets whole records (null keys, timestamps and headers too).
        const batch: GlobalTopicRecord[] = records.whole
          ? records.whole
          : records.keys.map((key, i) => ({ key, value: records.values[i] ?? null, offset: -1n, timestamp: -1 }));
        await store.apply(range.partition, batch, records.nextOffset);
        read += records.nextOffset - before;
        if (Date.now() - logged >= PROGRESS_EVERY_MS) {
          logged = Date.now();
          this.log.info('restoring global stores', {
            offsets: `${read} of ${total}`,
            percent: Number((read * 100n) / total),
          });
        }
      },
      abandoned,
      { clientId: this.options.clientId, wholeRecords: this.specs.some((spec) => spec.updater !== undefined) },
    );
    this.log.info('global stores restored', { offsets: total.toString(), ms: Date.now() - started });
  }

  get(storeName: string, key: Buffer): Buffer | undefined {
    const store = this.stores.get(storeName);
    if (!store) throw new Error(`no global store named "${storeName}"`);
    return store.get(key);
  }

  /** Rows of a global store in a range of serialized keys (see RangeQuery), from one snapshot. */
  async range(storeName: string, query: RangeQuery): Promise<Array<[Buffer, Buffer]>> {
    const store = this.stores.get(storeName);
    if (!store) throw new Error(`no global store named "${storeName}"`);
    const entries = await store.backend.range(backendRange(ROW, query));
    return entries.map(([key, value]) => [key.subarray(ROW.length), value]);
  }

  /** How far each store has read its topic, by "topic:partition". */
  positions(): Map<string, bigint> {
    const positions = new Map<string, bigint>();
    for (const store of this.stores.values())
      for (const [partition, offset] of store.positions) positions.set(`${store.spec.topic}:${partition}`, offset);
    return positions;
  }

  async stop(admin?: { deleteGroups(groupIds: string[]): Promise<unknown> }): Promise<void> {
    await this.reader?.stop(admin);
    for (const store of this.stores.values()) {
      store.updater?.close();
      await store.backend.close();
    }
    this.stores.clear();
    this.byTopic.clear();
  }
}
