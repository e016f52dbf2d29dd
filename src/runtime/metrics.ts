/** The engine's Prometheus metrics (prom-client), registered on a registry the application gives. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { HotPathHistogram } from './hot-path-histogram.js';

export interface StreamsMetrics {
  recordsProcessed: Counter<'subtopology'>;
  heldChangesForwarded: Counter<'subtopology'>;
  deadLetters: Counter<'topic' | 'reason'>;
  punctuationErrors: Counter<'subtopology'>;
  skippedRecords: Counter<'topic' | 'kind'>;
  droppedRecords: Counter<'topic' | 'reason'>;
  commitSeconds: Histogram;
  rebalances: Counter;
  tasks: Gauge<'status'>;
  restoreRecords: Counter;
  restoreRemaining: Gauge;
  /** Observed per output record: see HotPathHistogram. */
  endToEndSeconds: HotPathHistogram<'topic'>;
  /** Observed per input record. */
  recordAgeSeconds: HotPathHistogram<'topic'>;
  consumerLag: Gauge<'topic' | 'partition'>;
  storeBytes: Gauge<'task'>;
  storeLevelZeroFiles: Gauge<'task'>;
  storeCompactionSeconds: Gauge<'task'>;
  storeMemoryBytes: Gauge<'task'>;
  storeCompactionWrittenBytes: Gauge<'task'>;
  rowCacheLookups: Counter<'result'>;
  rowCacheBytes: Gauge<'task'>;
  standbyLagRecords: Gauge<'task'>;
  standbyStalenessSeconds: Gauge<'task'>;
}

export function createStreamsMetrics(registry: Registry): StreamsMetrics {
  const registers = [registry];
  return {
    recordsProcessed: new Counter({
      name: 'streams_records_processed_total',
      help: 'Input records processed, per sub-topology.',
      labelNames: ['subtopology'],
      registers,
    }),
    heldChangesForwarded: new Counter({
      name: 'streams_held_changes_forwarded_total',
      help: 'Changes of aggregates held until a commit and then forwarded downstream, per sub-topology (a change replaced by a newer one of the same key before that is not forwarded).',
      labelNames: ['subtopology'],
      registers,
    }),
    deadLetters: new Counter({
      name: 'streams_dead_letters_total',
      help: 'Records sent to the dead-letter topic, per source topic and reason.',
      labelNames: ['topic', 'reason'],
      registers,
    }),
    skippedRecords: new Counter({
      name: 'streams_skipped_records_total',
      help: 'Records that failed and were skipped by their error policy (skip), per source topic and kind of error.',
      labelNames: ['topic', 'kind'],
      registers,
    }),
    droppedRecords: new Counter({
      name: 'streams_dropped_records_total',
      help: "Records a node dropped by its semantics, per source topic and reason (late: a window it falls in had closed, counted per window; Kafka Streams' dropped-records).",
      labelNames: ['topic', 'reason'],
      registers,
    }),
    punctuationErrors: new Counter({
      name: 'streams_punctuation_errors_total',
      help: 'Punctuators (Processor API) that threw; their writes and records were taken back, per sub-topology.',
      labelNames: ['subtopology'],
      registers,
    }),
    commitSeconds: new Histogram({
      name: 'streams_commit_duration_seconds',
      help: 'Time to commit a task transaction and apply it to LevelDB.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    rebalances: new Counter({
      name: 'streams_rebalances_total',
      help: 'Group rebalances this instance took part in.',
      registers,
    }),
    tasks: new Gauge({
      name: 'streams_tasks',
      help: 'Tasks owned by this instance, per status.',
      labelNames: ['status'],
      registers,
    }),
    restoreRecords: new Counter({
      name: 'streams_restore_records_total',
      help: 'Changelog records replayed into local stores.',
      registers,
    }),
    restoreRemaining: new Gauge({
      name: 'streams_restore_remaining_records',
      help: 'Changelog records still to replay before the restoring tasks can run.',
      registers,
    }),
    endToEndSeconds: new HotPathHistogram({
      name: 'streams_end_to_end_latency_seconds',
      help: 'From a record timestamp (for CDC: the source commit time) to its result committed to an output topic and the local stores.',
      labelNames: ['topic'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers,
    }),
    recordAgeSeconds: new HotPathHistogram({
      name: 'streams_record_age_at_processing_seconds',
      help: 'From a record timestamp to the moment a task processes it, per input topic (Kafka Streams: record-e2e-latency at the source node). Across sub-topologies it shows where an update waits.',
      labelNames: ['topic'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.35, 0.5, 0.75, 1, 2, 5, 30],
      registers,
    }),
    consumerLag: new Gauge({
      name: 'streams_consumer_lag_records',
      help: 'Records between the last fetched batch and the partition end, per input partition.',
      labelNames: ['topic', 'partition'],
      registers,
    }),
    storeBytes: new Gauge({
      name: 'streams_store_size_bytes',
      help: 'Size on disk of each task store (LevelDB directory).',
      labelNames: ['task'],
      registers,
    }),
    storeLevelZeroFiles: new Gauge({
      name: 'streams_store_level0_files',
      help: 'Level-0 table files of each task store: LevelDB slows every write from 8 on and stops them at 12, when its compaction thread falls behind.',
      labelNames: ['task'],
      registers,
    }),
    storeCompactionSeconds: new Gauge({
      name: 'streams_store_compaction_seconds',
      help: "Time LevelDB's background thread spent writing memtables out and compacting each task store since the store was opened (one thread per process does it for every store).",
      labelNames: ['task'],
      registers,
    }),
    storeMemoryBytes: new Gauge({
      name: 'streams_store_memory_bytes',
      help: "LevelDB's memory for each task store, as LevelDB estimates it: its memtables and the blocks in its block cache (anonymous memory).",
      labelNames: ['task'],
      registers,
    }),
    storeCompactionWrittenBytes: new Gauge({
      name: 'streams_store_compaction_written_bytes',
      help: 'Bytes LevelDB wrote to table files of each task store since it was opened (memtable flushes and compactions; divided by the bytes the task wrote, the write amplification).',
      labelNames: ['task'],
      registers,
    }),
    rowCacheLookups: new Counter({
      name: 'streams_row_cache_lookups_total',
      help: 'Store reads of active tasks that went past their uncommitted writes, by whether the row cache had the row (hit) or LevelDB was read (miss); counted every 30 s.',
      labelNames: ['result'],
      registers,
    }),
    rowCacheBytes: new Gauge({
      name: 'streams_row_cache_bytes',
      help: "Bytes each active task's row cache holds (rows and their keys, with an estimate of their overhead).",
      labelNames: ['task'],
      registers,
    }),
    standbyLagRecords: new Gauge({
      name: 'streams_standby_lag_records',
      help: 'Changelog records each standby (or warm-up) task of this instance has not read yet.',
      labelNames: ['task'],
      registers,
    }),
    standbyStalenessSeconds: new Gauge({
      name: 'streams_standby_staleness_seconds',
      help: 'How long ago each standby task was last at the end of its changelogs (-1: never yet).',
      labelNames: ['task'],
      registers,
    }),
  };
}
