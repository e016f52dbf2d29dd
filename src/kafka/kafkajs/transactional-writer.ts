/**
 * A task's transactional producer: each commit writes the task's output and
 * its consumed offsets in one Kafka transaction. Connecting fences any older
 * producer with the same transactional id (a zombie owner of the task): the
 * broker aborts that producer's open transaction, or finishes the commit it
 * had already begun, before `connect` returns; after that the old producer
 * can commit nothing more. So a task reads its changelog ends and committed
 * offsets only after `connect`.
 */
import { Partitioners, type Kafka, type Producer } from 'kafkajs';
import type { OutgoingRecord } from '../../processor/types.js';
import type { CommitWriter, ConsumedOffsets, WrittenOffsets } from '../client.js';
import { chunksOf, errorTypes, MAX_REQUEST_BYTES } from '../commit-writer.js';

export class TransactionalWriter implements CommitWriter {
  private readonly producer: Producer;

  /**
   * The transaction timeout is long (5 minutes) on purpose: a transaction left open by a broker
   * restart is then aborted by the task's next owner fencing it once the broker is fully up, not
   * by the coordinator's timeout right as it loads (when it can lose the abort markers). A
   * transaction left open by a dead instance is aborted as soon as its task is opened elsewhere.
   */
  constructor(kafka: Kafka, transactionalId: string, transactionTimeoutMs = 300_000) {
    this.producer = kafka.producer({
      transactionalId,
      // Not `idempotent`: in kafkajs that only makes `connect` fetch a second, non-transactional
      // producer id. Transactions are idempotent anyway.
      maxInFlightRequests: 1,
      transactionTimeout: transactionTimeoutMs,
      allowAutoTopicCreation: false,
      // Partitions are always chosen by the engine; this only silences kafkajs' migration warning.
      createPartitioner: Partitioners.DefaultPartitioner,
      // Bounded: a commit that cannot finish (e.g. the broker is down) fails within seconds, and
      // the task is closed and reopened; its transaction is aborted then, so nothing is duplicated.
      retry: { retries: 6, initialRetryTime: 50, maxRetryTime: 2000 },
    });
  }

  /**
   * Connects and fences older producers of the same transactional id. kafkajs sends
   * InitProducerId with the transactional id only when the first transaction begins, so one is
   * begun and ended here (with nothing in it, ending it sends nothing to the broker).
   */
  async connect(): Promise<void> {
    await this.producer.connect();
    const transaction = await this.producer.transaction();
    await transaction.abort();
  }

  /**
   * Writes records (each with its partition set) and offsets atomically. A
   * transaction started while the broker still completes the previous one is
   * refused (CONCURRENT_TRANSACTIONS); nothing was written then, so it is retried.
   */
  async commit(
    records: readonly (OutgoingRecord & { partition: number })[],
    consumed: ConsumedOffsets,
  ): Promise<WrittenOffsets> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.commitOnce(records, consumed);
      } catch (error) {
        if (attempt >= 20 || !isConcurrentTransactions(error)) throw error;
        await new Promise((resolve) => setTimeout(resolve, 10 * attempt));
      }
    }
  }

  private async commitOnce(
    records: readonly (OutgoingRecord & { partition: number })[],
    consumed: ConsumedOffsets,
  ): Promise<WrittenOffsets> {
    const transaction = await this.producer.transaction();
    try {
      const written: WrittenOffsets = new Map();
      // Requests stay well under the broker's message.max.bytes (1 MB by default).
      for (const { records: chunk } of chunksOf(records, MAX_REQUEST_BYTES)) {
        const byTopic = new Map<string, OutgoingRecord[]>();
        const counts = new Map<string, number>();
        for (const record of chunk) {
          const list = byTopic.get(record.topic);
          if (list) list.push(record);
          else byTopic.set(record.topic, [record]);
          const tp = `${record.topic}:${record.partition}`;
          counts.set(tp, (counts.get(tp) ?? 0) + 1);
        }
        const metadata = await transaction.sendBatch({
          acks: -1,
          topicMessages: [...byTopic].map(([topic, messages]) => ({
            topic,
            messages: messages.map((m) => ({
              partition: m.partition,
              key: m.key,
              value: m.value,
              timestamp: String(m.timestamp),
              headers: m.headers ? Object.fromEntries(m.headers.map((h) => [h.key, h.value])) : undefined,
            })),
          })),
        });
        for (const m of metadata) {
          const tp = `${m.topicName}:${m.partition}`;
          if (m.baseOffset === undefined) continue;
          const next = BigInt(m.baseOffset) + BigInt(counts.get(tp) ?? 0);
          if (next > (written.get(tp) ?? -1n)) written.set(tp, next);
        }
      }
      const topics = [...consumed.offsets].map(([topic, partitions]) => ({
        topic,
        partitions: [...partitions].map(([partition, offset]) => ({ partition, offset: offset.toString() })),
      }));
      if (topics.length > 0) await transaction.sendOffsets({ consumerGroupId: consumed.groupId, topics });
      await transaction.commit();
      return written;
    } catch (error) {
      await transaction.abort().catch(() => undefined);
      throw error;
    }
  }

  async disconnect(): Promise<void> {
    await this.producer.disconnect();
  }
}

function isConcurrentTransactions(error: unknown): boolean {
  return (
    errorTypes(error).includes('CONCURRENT_TRANSACTIONS') ||
    /concurrent operation on the same transaction/i.test(String((error as Error)?.message))
  );
}
