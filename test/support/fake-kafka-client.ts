// A fake Kafka client for unit tests of our readers (changelog reader, topic replica): its group
// consumer records seeks, and the test delivers batches and group events through the options the
// reader gave it. Its admin knows one topic's end offsets (any topic has them) and a group's
// committed offsets by topic.
import type {
  ClusterAdmin,
  ConsumedBatch,
  GroupConsumer,
  GroupConsumerOptions,
  KafkaClient,
} from '../../src/kafka/client.js';
import type { RecordHeader } from '../../src/kafka/record-batches.js';

export function fakeClient(
  endOffsets: Map<number, bigint> = new Map(),
  groupOffsets: Map<string, Map<number, bigint>> = new Map(),
) {
  const seeks: Array<{ topic: string; partition: number; offset: bigint }> = [];
  let options: GroupConsumerOptions | undefined;
  const consumer: GroupConsumer = {
    start: async () => undefined,
    rejoin: async () => undefined,
    restart: async () => undefined,
    stop: async () => undefined,
    pause: () => undefined,
    resume: () => undefined,
    seek: (topic, partition, offset) => void seeks.push({ topic, partition, offset }),
  };
  const admin = {
    connect: async () => undefined,
    disconnect: async () => undefined,
    highWatermarks: async () => endOffsets,
    offsetsForTime: async () => endOffsets,
    groupOffsets: async (_groupId: string, topic: string) => groupOffsets.get(topic) ?? new Map(),
  } as unknown as ClusterAdmin; // only what the readers call
  const client: KafkaClient = {
    admin: () => admin,
    groupConsumer: (given) => {
      options = given;
      return consumer;
    },
    taskWriter: () => {
      throw new Error('not in this fake');
    },
  };
  const given = () => {
    if (!options) throw new Error('no consumer was created');
    return options;
  };
  /** Hands over records of one partition with these offsets, fetched from `fetchedAt`, as a consumer does. */
  const deliver = (
    topic: string,
    partition: number,
    fetchedAt: bigint,
    records: Array<{ offset: bigint; key: string; headers?: RecordHeader[] }>,
    nextOffset = (records.at(-1)?.offset ?? fetchedAt - 1n) + 1n,
  ) => {
    const batch: ConsumedBatch = {
      topic,
      partition,
      records: records.map((r) => ({
        topic,
        partition,
        offset: r.offset.toString(),
        timestamp: 0,
        key: Buffer.from(r.key),
        value: Buffer.from(r.key),
        ...(r.headers ? { headers: r.headers } : {}),
      })),
      fetchedOffset: fetchedAt,
      nextOffset,
      stillValid: () => true,
      resolve: () => undefined,
      heartbeat: async () => undefined,
    };
    return given().eachBatch(batch);
  };
  return { client, seeks, options: given, deliver };
}
