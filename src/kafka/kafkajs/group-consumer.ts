/** GroupConsumer on a kafkajs consumer (with the generation id patches/kafkajs adds to its join event). */
import { type Consumer, type IHeaders, type Kafka, type PartitionAssigner } from 'kafkajs';
import type { GroupAssignor, GroupConsumer, GroupConsumerOptions } from '../client.js';
import type { RecordHeader } from '../record-batches.js';
import { decodeSubscription, encodeAssignment, encodeSubscription } from '../consumer-protocol.js';

export class KafkajsGroupConsumer implements GroupConsumer {
  private readonly consumer: Consumer;

  constructor(
    kafka: Kafka,
    private readonly options: GroupConsumerOptions,
  ) {
    if (options.groupInstanceId !== undefined) throw new Error('kafkajs has no static membership (groupInstanceId)');
    this.consumer = kafka.consumer({
      groupId: options.groupId,
      readUncommitted: false,
      maxWaitTimeInMs: options.fetchMaxWaitMs,
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: options.heartbeatIntervalMs,
      rebalanceTimeout: options.rebalanceTimeoutMs,
      allowAutoTopicCreation: false,
      retry: options.retry,
      partitionAssigners: options.assignor ? [kafkajsAssigner(options.assignor)] : undefined,
    });
    const { events } = this.consumer;
    this.consumer.on(events.GROUP_JOIN, ({ payload }) =>
      options.onJoin?.({
        memberId: payload.memberId,
        generationId: (payload as { generationId?: number }).generationId ?? -1, // added by patches/kafkajs
        assignment: payload.memberAssignment,
      }),
    );
    this.consumer.on(events.END_BATCH_PROCESS, ({ payload }) =>
      options.onBatchDone?.({
        topic: payload.topic,
        partition: payload.partition,
        records: payload.batchSize,
        firstOffset: payload.firstOffset === null ? undefined : BigInt(payload.firstOffset),
        nextOffset: BigInt(payload.lastOffset) + 1n,
        highWatermark: BigInt(payload.highWatermark),
        lag: BigInt(payload.offsetLag),
      }),
    );
    this.consumer.on(events.FETCH, () => options.onFetch?.());
    this.consumer.on(events.CRASH, ({ payload }) => options.onCrash?.(payload.error, payload.restart));
  }

  async start(): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: this.options.topics, fromBeginning: true });
    await this.run();
  }

  /** kafkajs rejoins only by stopping (which leaves the group) and running again. */
  async rejoin(): Promise<void> {
    await this.consumer.stop();
    await this.run();
  }

  async restart(): Promise<void> {
    await this.consumer.connect();
    await this.run();
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect();
  }

  pause(topic: string, partition: number): void {
    try {
      this.consumer.pause([{ topic, partitions: [partition] }]);
    } catch (error) {
      // Between a crash and its restart the consumer holds no partitions: nothing to pause.
      if (!/consumer#run must be called first/.test(String((error as Error)?.message))) throw error;
    }
  }

  resume(topic: string, partition: number): void {
    this.consumer.resume([{ topic, partitions: [partition] }]);
  }

  seek(topic: string, partition: number, offset: bigint): void {
    this.consumer.seek({ topic, partition, offset: offset.toString() });
  }

  private run(): Promise<void> {
    const { eachBatch } = this.options;
    return this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: this.options.autoResolve ?? true,
      partitionsConsumedConcurrently: this.options.concurrency ?? 1,
      eachBatch: ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        const { topic, partition } = batch;
        // Not a kafkajs type, but kept on every batch: where the fetch that brought it began.
        const fetchedOffset = (batch as unknown as { fetchedOffset?: string }).fetchedOffset ?? batch.firstOffset();
        return eachBatch({
          topic,
          partition,
          records: batch.messages.map((message) => ({
            topic,
            partition,
            offset: message.offset,
            timestamp: Number(message.timestamp),
            key: message.key,
            value: message.value,
            headers: headersOf(message.headers),
            lineage: undefined,
          })),
          fetchedOffset: BigInt(fetchedOffset ?? batch.lastOffset()),
          nextOffset: BigInt(batch.lastOffset()) + 1n,
          stillValid: () => isRunning() && !isStale(),
          resolve: resolveOffset,
          heartbeat,
        });
      },
    });
  }
}

/** Our assignor as kafkajs calls one, with the consumer protocol encoded by us (as kafkajs would). */
function kafkajsAssigner(assignor: GroupAssignor): PartitionAssigner {
  const version = 2;
  return ({ cluster }) => ({
    name: assignor.name,
    version,
    protocol: ({ topics }) => ({
      name: assignor.name,
      metadata: encodeSubscription({ version, topics, userData: assignor.userData() }),
    }),
    async assign({ members }) {
      const assignments = await assignor.assign({
        members: members.map((m) => ({
          memberId: m.memberId,
          userData: decodeSubscription(m.memberMetadata)?.userData ?? null,
        })),
        partitionCount: (topic) => cluster.findTopicPartitionMetadata(topic).length,
      });
      return assignments.map(({ memberId, partitions, userData }) => ({
        memberId,
        memberAssignment: encodeAssignment({ version, partitions, userData }),
      }));
    },
  });
}

/** kafkajs' headers as the engine's (a header kafkajs gives as a list keeps its last value). */
function headersOf(headers: IHeaders | undefined): RecordHeader[] | undefined {
  if (!headers) return undefined;
  const list: RecordHeader[] = [];
  for (const [key, value] of Object.entries(headers)) {
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    if (last !== undefined) list.push({ key, value: Buffer.isBuffer(last) ? last : Buffer.from(last) });
  }
  return list.length > 0 ? list : undefined;
}
