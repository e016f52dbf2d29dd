/**
 * Replays dead letters: writes each record of the application's dead-letter topic back to the topic
 * and partition it was read from, with its own key, value, timestamp and headers (the `dlq.*`
 * headers dropped), once the cause is fixed (a serde or topology that now accepts it). The
 * application processes it again like any new record; one that fails again is dead-lettered again.
 *
 * Exactly once: the replay is a consumer group of its own (`<applicationId>-dead-letter-replay`)
 * whose position in the dead-letter topic is committed in the same transaction as the records it
 * writes, so a replay cut short resumes after the last record it wrote, and a second replay writes
 * only dead letters that came after.
 */
import { committedOffsets, endOffsets, partitionCounts } from '../kafka/admin.js';
import { readRangesBulk, type WholeRecord } from '../kafka/bulk-reader.js';
import { createKafkaClient } from '../kafka/client.js';
import type { Header, OutgoingRecord } from '../processor/types.js';
import type { Logger } from '../util/logger.js';
import { streamsConfig, type StreamsSettings } from './config.js';
import { DEAD_LETTER_HEADER_PREFIX } from './task-core.js';

export interface ReplayOptions {
  /** Count what would be written, write nothing (and move the replay's position not). */
  dryRun: boolean;
  /** Only dead letters read from this source topic (others are passed over, and not replayed later). */
  sourceTopic?: string;
  /** Only dead letters of this reason (the `dlq.reason` header, e.g. DeserializationError). */
  reason?: string;
}

export interface ReplayResult {
  /** The dead letters looked at: from the replay's position to the topic's end when it started. */
  read: number;
  /** Written back (or, in a dry run, that would be), per source topic. */
  replayed: Map<string, number>;
  /** Passed over by the filters, or whose source topic no longer exists. */
  passedOver: number;
}

/** Records written per transaction. */
const CHUNK = 500;

export function replayGroupId(applicationId: string): string {
  return `${applicationId}-dead-letter-replay`;
}

export async function replayDeadLetters(
  settings: StreamsSettings,
  logger: Logger,
  options: ReplayOptions,
): Promise<ReplayResult> {
  const config = streamsConfig(settings);
  const topic = config.deadLetterTopic;
  const groupId = replayGroupId(config.applicationId);
  const log = logger.child({ component: 'dead-letter-replay', topic });
  const kafka = createKafkaClient({
    brokers: config.brokers,
    clientId: groupId,
    logger,
    kind: config.kafkaClient,
    security: config.security,
  });
  const admin = kafka.admin();
  await admin.connect();
  const writer = options.dryRun ? undefined : kafka.taskWriter(groupId);
  try {
    await writer?.connect(); // fences a replay still running elsewhere
    const ends = await endOffsets(admin, topic);
    const starts = await committedOffsets(admin, groupId, topic);
    const ranges = [...ends].map(([partition, to]) => ({ topic, partition, from: starts.get(partition) ?? 0n, to }));
    const total = ranges.reduce((sum, r) => sum + Number(r.to > r.from ? r.to - r.from : 0n), 0);
    log.info('replaying dead letters', { groupId, records: total, dryRun: options.dryRun });

    const result: ReplayResult = { read: 0, replayed: new Map(), passedOver: 0 };
    const sourcePartitions = new Map<string, number | undefined>();
    const partitionsOf = async (source: string) => {
      if (!sourcePartitions.has(source))
        sourcePartitions.set(source, (await partitionCounts(admin, [source])).get(source));
      return sourcePartitions.get(source);
    };
    // One transaction at a time: partitions are read in parallel, the producer writes one after another.
    let commits: Promise<unknown> = Promise.resolve();
    const commit = (partition: number, records: Array<OutgoingRecord & { partition: number }>, next: bigint) => {
      if (!writer) return Promise.resolve();
      const offsets = new Map([[topic, new Map([[partition, next]])]]);
      const done = commits.then(() => writer.commit(records, { groupId, offsets }));
      commits = done.catch(() => undefined);
      return done;
    };
    let lastProgress = Date.now();
    await readRangesBulk(
      admin,
      ranges,
      async (range, records) => {
        const whole = records.whole ?? [];
        for (let i = 0; i < whole.length; i += CHUNK) {
          const chunk = whole.slice(i, i + CHUNK);
          const out: Array<OutgoingRecord & { partition: number }> = [];
          for (const letter of chunk) {
            const record = await replayedRecord(letter, options, partitionsOf);
            if (!record) {
              result.passedOver++;
              continue;
            }
            out.push(record);
            result.replayed.set(record.topic, (result.replayed.get(record.topic) ?? 0) + 1);
          }
          result.read += chunk.length;
          // The position after this chunk: the next record's offset, or the range's end after the last.
          const next = i + CHUNK < whole.length ? whole[i + CHUNK]!.offset : records.nextOffset;
          await commit(range.partition, out, next);
          if (Date.now() - lastProgress >= 1000) {
            lastProgress = Date.now();
            log.info('replay progress', { read: result.read, of: total, replayed: sum(result.replayed) });
          }
        }
        if (whole.length === 0) await commit(range.partition, [], records.nextOffset);
      },
      () => false,
      { clientId: groupId, wholeRecords: true },
    );
    log.info('dead letters replayed', {
      read: result.read,
      replayed: Object.fromEntries(result.replayed),
      passedOver: result.passedOver,
      dryRun: options.dryRun,
    });
    return result;
  } finally {
    await writer?.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}

/** The record to write back for a dead letter, or undefined when it is passed over. */
async function replayedRecord(
  letter: WholeRecord,
  options: ReplayOptions,
  partitionsOf: (topic: string) => Promise<number | undefined>,
): Promise<(OutgoingRecord & { partition: number }) | undefined> {
  const dlq = new Map<string, string>();
  const own: Header[] = [];
  for (const header of letter.headers ?? []) {
    if (header.key.startsWith(DEAD_LETTER_HEADER_PREFIX))
      dlq.set(header.key.slice(DEAD_LETTER_HEADER_PREFIX.length), header.value.toString());
    else own.push(header);
  }
  const source = dlq.get('source.topic');
  if (!source) return undefined;
  if (options.sourceTopic !== undefined && source !== options.sourceTopic) return undefined;
  if (options.reason !== undefined && dlq.get('reason') !== options.reason) return undefined;
  const partitions = await partitionsOf(source);
  if (partitions === undefined) return undefined;
  const partition = Number(dlq.get('source.partition'));
  return {
    topic: source,
    // Its own partition, so it is read by the task that failed on it, in order with its key's records.
    partition: Number.isInteger(partition) && partition >= 0 && partition < partitions ? partition : 0,
    key: letter.key,
    value: letter.value,
    timestamp: letter.timestamp,
    ...(own.length > 0 ? { headers: own } : {}),
  };
}

function sum(counts: Map<string, number>): number {
  let total = 0;
  for (const n of counts.values()) total += n;
  return total;
}
